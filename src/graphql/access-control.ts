import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { AccessControl, Principal, Scope } from '../auth/index.js';
import type { PulseContext } from './context.js';

// Which scope each root field needs. Mutations not named here are operational: admin only.
// Every query and subscription field needs `read`; introspection (`__schema`, `__type`,
// `__typename`) needs a valid key of any scope.
const MUTATION_SCOPES: Readonly<Record<string, Scope>> = { track: 'ingest', trackBatch: 'ingest' };

const HTTP_STATUS: Readonly<Record<string, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  LIMIT_EXCEEDED: 429,
};

/** What an operation needs before it may run: scopes, and events charged to the key's rate. */
export interface OperationNeeds {
  scopes: Set<Scope>;
  events: number;
}

interface CodedRefusal extends Error {
  code: string;
  details?: Record<string, unknown>;
}

/** The root fields of an operation, through fragments; every field counts, whatever its directives. */
function rootFields(operation: OperationDefinitionNode, document: DocumentNode) {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const fields: Array<{ name: string; node: FieldNode }> = [];
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) fields.push({ name: selection.name.value, node: selection });
      else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment.selectionSet);
      }
    }
  };
  walk(operation.selectionSet);
  return fields;
}

/** Events a trackBatch field stores: its list's length, however it is given; 1 for anything else. */
function batchSize(node: FieldNode, variables: Record<string, unknown> | undefined): number {
  const value = node.arguments?.find((arg) => arg.name.value === 'events')?.value;
  if (value?.kind === Kind.LIST) return value.values.length;
  if (value?.kind === Kind.VARIABLE) {
    const given = variables?.[value.name.value];
    return Array.isArray(given) ? given.length : 1;
  }
  return 1;
}

export function operationNeeds(
  operation: OperationDefinitionNode,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
): OperationNeeds {
  const needs: OperationNeeds = { scopes: new Set(), events: 0 };
  for (const { name, node } of rootFields(operation, document)) {
    if (name.startsWith('__')) continue;
    if (operation.operation !== 'mutation') {
      needs.scopes.add('read');
      continue;
    }
    needs.scopes.add(MUTATION_SCOPES[name] ?? 'admin');
    if (name === 'track') needs.events += 1;
    else if (name === 'trackBatch') needs.events += batchSize(node, variables);
  }
  return needs;
}

/** A refusal as the client gets it: its code and details; over HTTP also a status (and Retry-After). */
function refusalError(error: CodedRefusal, overHttp: boolean): GraphQLError {
  const extensions: Record<string, unknown> = { ...error.details, code: error.code };
  if (overHttp) {
    const retryAfterMs = error.details?.retryAfterMs;
    extensions.http = {
      status: HTTP_STATUS[error.code] ?? 400,
      ...(typeof retryAfterMs === 'number'
        ? { headers: { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) } }
        : {}),
    };
  }
  return new GraphQLError(error.message, { extensions });
}

function isRefusal(error: unknown): error is CodedRefusal {
  return (
    error instanceof Error &&
    typeof (error as CodedRefusal).code === 'string' &&
    Object.hasOwn(HTTP_STATUS, (error as CodedRefusal).code)
  );
}

interface NodeResponse {
  once(event: 'close', listener: () => void): unknown;
  destroy(): void;
  destroyed?: boolean;
}

// How long a stream of a removed key gets to send its `complete` before its connection is cut.
const CLOSE_GRACE_MS = 1000;

/**
 * Checks every operation against the key that sent it before anything runs: its scopes for the
 * operation's root fields, its ingest rate for the events a mutation carries, its subscription
 * rate and its live connections for a subscription. A refused operation gets one error result
 * (UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED or LIMIT_EXCEEDED): nothing is published or streamed.
 * Over HTTP the key comes from the Authorization header; over WebSocket the endpoint puts the
 * principal of its connection_init payload into the context.
 */
export function useAccessControl(access: AccessControl): Plugin<PulseContext> {
  function principalOf(context: PulseContext & { request?: Request }): Principal {
    if (context.principal) return access.refresh(context.principal);
    return access.authenticate(context.request?.headers.get('authorization'));
  }

  function admit(
    context: PulseContext & { request?: Request },
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown> | undefined,
  ): Principal | undefined {
    const operation = getOperationAST(document, operationName);
    // No single operation: execution answers that with its own error, and runs nothing.
    if (!operation) return undefined;
    const principal = principalOf(context);
    const needs = operationNeeds(operation, document, variables);
    for (const scope of needs.scopes) access.require(principal, scope);
    if (needs.events > 0) access.chargeEvents(principal, needs.events);
    return principal;
  }

  return {
    onExecute({ args, extendContext, setResultAndStopExecution }) {
      const context = args.contextValue as PulseContext & { request?: Request };
      try {
        const principal = admit(context, args.document, args.operationName, args.variableValues ?? undefined);
        if (principal) extendContext({ principal });
      } catch (error) {
        if (!isRefusal(error)) throw error;
        setResultAndStopExecution({ errors: [refusalError(error, Boolean(context.request))] });
      }
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const context = args.contextValue as PulseContext & { request?: Request; res?: NodeResponse };
      const overHttp = Boolean(context.request) && !context.liveConnection;
      let release: (() => void) | undefined;
      let result: unknown;
      try {
        const principal = admit(context, args.document, args.operationName, args.variableValues ?? undefined);
        if (principal) {
          context.principal = principal;
          access.chargeSubscription(principal);
          // A WebSocket connection is held for the whole socket; each SSE stream holds one of its own.
          if (overHttp) release = holdStream(principal, context, () => result);
        }
      } catch (error) {
        if (!isRefusal(error)) throw error;
        setResultAndStopExecution({ errors: [refusalError(error, overHttp)] });
        return;
      }
      if (!release) return;
      const held = release;
      return {
        onSubscribeResult({ result: subscribed }) {
          result = subscribed;
          if (!isAsyncIterable(subscribed)) held();
        },
        onSubscribeError: () => held(),
      };
    },
  };

  function holdStream(
    principal: Principal,
    context: { request?: Request; res?: NodeResponse },
    current: () => unknown,
  ): () => void {
    const res = context.res;
    let isReleased = false;
    const release = access.holdConnection(principal, () => {
      // Completing the stream sends `complete`; the connection is cut if that does not end it.
      const stream = current() as AsyncIterator<unknown> | undefined;
      void stream?.return?.()?.catch(() => {});
      if (res) setTimeout(() => !res.destroyed && res.destroy(), CLOSE_GRACE_MS).unref();
    });
    const once = () => {
      if (isReleased) return;
      isReleased = true;
      release();
    };
    if (res) res.once('close', once);
    else context.request?.signal.addEventListener('abort', once, { once: true });
    return once;
  }
}
