import {
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  type FieldNode,
  getOperationAST,
  Kind,
  print,
  visit,
} from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import type { StoredEvent } from '../events/index.js';

/**
 * What makes two `events` subscriptions receive the same payload for the same event: the response
 * key, the selection (fragments included) and the values of the variables used inside it. Their
 * arguments (filter, position) decide which events they get, not what each payload holds.
 */
interface Selection {
  key: string;
  variableNames: readonly string[];
}

const selections = new WeakMap<DocumentNode, Map<string, Selection | null>>();

function selectionOf(document: DocumentNode, operationName: string | null | undefined): Selection | null {
  let byOperation = selections.get(document);
  if (!byOperation) {
    byOperation = new Map();
    selections.set(document, byOperation);
  }
  const cached = byOperation.get(operationName ?? '');
  if (cached !== undefined) return cached;

  let selection: Selection | null = null;
  const operation = getOperationAST(document, operationName);
  const root = operation?.selectionSet.selections;
  if (operation?.operation === 'subscription' && root?.length === 1 && root[0].kind === Kind.FIELD) {
    const field: FieldNode = root[0];
    if (field.name.value === 'events' && !field.directives?.length && field.selectionSet) {
      const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
      const variableNames = new Set<string>();
      for (const node of [field.selectionSet, ...fragments]) {
        visit(node, {
          Variable: (variable) => {
            variableNames.add(variable.name.value);
          },
        });
      }
      selection = {
        key: [field.alias?.value ?? 'events', print(field.selectionSet), ...fragments.map(print)].join('\n'),
        variableNames: [...variableNames].sort(),
      };
    }
  }
  byOperation.set(operationName ?? '', selection);
  return selection;
}

/** The key under which `events` subscriptions share payloads, or undefined for any other operation. */
export function eventsPayloadKey(args: ExecutionArgs): string | undefined {
  const selection = selectionOf(args.document, args.operationName);
  if (!selection) return undefined;
  if (selection.variableNames.length === 0) return selection.key;
  const values = selection.variableNames.map((name) => args.variableValues?.[name] ?? null);
  return `${selection.key}\n${JSON.stringify(values)}`;
}

/** How a transport frames a payload (its JSON text) for the wire. */
export type FrameFormat = (json: string, event: StoredEvent) => Buffer;

/** Renders one selection's payload for an event, once per event however many subscribers share it. */
export interface PayloadRenderer {
  readonly key: string;
  /** The execution result for the event. */
  result(event: StoredEvent): ExecutionResult;
  /** The same as JSON text, as transports put it on the wire. */
  json(event: StoredEvent): string;
  /** The payload framed by `format`, made once per event and format, and shared by every subscriber. */
  frame(event: StoredEvent, format: FrameFormat): Buffer;
}

/**
 * Results kept per selection, the oldest dropped first. A broadcast hands a batch of up to 256
 * events to each subscriber in turn: unless the whole batch stays rendered, every subscriber renders
 * it again, and the busier the feed, the larger the batches and the more work each one costs.
 */
const REMEMBERED = 1024;

interface Rendered {
  result: ExecutionResult;
  json: string;
  /** Frames made of it so far, by format: a transport or two. */
  frames?: Map<FrameFormat, Buffer>;
}

/**
 * Runs the subscription's selection for one event. graphql-jit compiles it once into a function
 * that gives what graphql-js's execute gives (its variables coerced alike), at a sixth of the cost
 * per event; a document it cannot compile is executed by graphql-js.
 */
function executorFor(args: ExecutionArgs): (event: StoredEvent) => ExecutionResult {
  const executed = (event: StoredEvent) => execute({ ...args, rootValue: event }) as ExecutionResult;
  try {
    const compiled = compileQuery(args.schema, args.document, args.operationName ?? undefined);
    if (!isCompiledQuery(compiled)) return executed;
    return (event) => compiled.query(event, args.contextValue, args.variableValues ?? {}) as ExecutionResult;
  } catch {
    return executed;
  }
}

function createRenderer(key: string, args: ExecutionArgs, onError: (errors: unknown) => void): PayloadRenderer {
  const rendered = new Map<number, Rendered>();
  const run = executorFor(args);

  function render(event: StoredEvent): Rendered {
    const known = rendered.get(event.seq);
    if (known) return known;
    // Event's fields read the event alone, so one subscriber's arguments serve all who share the key.
    const failed = (errors: unknown): Rendered => {
      onError(errors);
      const result = {
        data: null,
        errors: [{ message: 'Unexpected error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] as never,
      };
      return { result, json: JSON.stringify(result) };
    };
    let entry: Rendered;
    try {
      const result = run(event);
      entry = result.errors?.length ? failed(result.errors) : { result, json: JSON.stringify(result) };
    } catch (err) {
      // One event that cannot be rendered (a value JSON cannot hold) must not end the process.
      entry = failed(err);
    }
    rendered.set(event.seq, entry);
    if (rendered.size > REMEMBERED) rendered.delete(rendered.keys().next().value as number);
    return entry;
  }

  return {
    key,
    result: (event) => render(event).result,
    json: (event) => render(event).json,
    frame(event, format) {
      const entry = render(event);
      entry.frames ??= new Map();
      let frame = entry.frames.get(format);
      if (!frame) {
        frame = format(entry.json, event);
        entry.frames.set(format, frame);
      }
      return frame;
    },
  };
}

/** The renderers in use, one per payload key, kept while a subscriber uses them. */
export interface PayloadRenderers {
  /** The renderer for these execution arguments (an `events` subscription); release it when done. */
  acquire(args: ExecutionArgs, key: string): { renderer: PayloadRenderer; release(): void };
  readonly size: number;
}

export function createPayloadRenderers(onError: (errors: unknown) => void): PayloadRenderers {
  const inUse = new Map<string, { renderer: PayloadRenderer; users: number }>();
  return {
    acquire(args, key) {
      let entry = inUse.get(key);
      if (!entry) {
        entry = { renderer: createRenderer(key, args, onError), users: 0 };
        inUse.set(key, entry);
      }
      entry.users++;
      const held = entry;
      let isReleased = false;
      return {
        renderer: held.renderer,
        release() {
          if (isReleased) return;
          isReleased = true;
          if (--held.users === 0 && inUse.get(key) === held) inUse.delete(key);
        },
      };
    },
    get size() {
      return inUse.size;
    },
  };
}
