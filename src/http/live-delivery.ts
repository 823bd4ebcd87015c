import { ServerResponse } from 'node:http';
import { createSourceEventStream, type ExecutionArgs, type ExecutionResult, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import {
  createPayloadRenderers,
  eventsPayloadKey,
  type PayloadRenderer,
  type PulseContext,
  toClientError,
} from '../graphql/index.js';
import { isLiveSubscription, type LiveSubscription } from '../live/index.js';
import type { Logger } from '../log/index.js';
import { createSseResponse } from './sse.js';

/** An `events` subscription ready for a transport that writes it to its socket itself. */
export interface LiveHandoff {
  subscription: LiveSubscription;
  renderer: PayloadRenderer;
  /** The Node response an HTTP request is answered on (SSE writes to it directly); absent over WebSocket. */
  response?: ServerResponse;
}

export interface LiveDeliveryOptions {
  log: Logger;
  /** How often an idle SSE stream gets a comment line, so that proxies keep it open. Default 12000. */
  keepAliveMs?: number;
}

/**
 * The fast path of `events` subscriptions. Executing the selection for every subscriber of every
 * event (what graphql-js's subscribe does) costs more than the rest of the delivery together, so
 * this plugin subscribes through the field's own resolver (limits, position checks) but renders
 * each event's payload once per distinct selection (PayloadRenderer), and hands the subscription
 * to the transport: Pulse's SSE response (which also writes each event's cursor as its SSE `id`)
 * and the WebSocket endpoint (ws.ts) write the shared payload to their sockets. Any other consumer
 * of the operation still gets an ordinary async iterable of execution results.
 */
export interface LiveDelivery {
  plugin: Plugin<PulseContext>;
  /** The live subscription an operation opened, for the WebSocket endpoint; once per operation. */
  take(contextValue: unknown): LiveHandoff | undefined;
}

export function createLiveDelivery(options: LiveDeliveryOptions): LiveDelivery {
  const { log } = options;
  const keepAliveMs = options.keepAliveMs ?? 12_000;
  const renderers = createPayloadRenderers((errors) => log.error({ errors }, 'rendering a live event failed'));
  // Keyed by the operation's context (WebSocket) and by its Request (SSE): both live as long as it.
  const handoffs = new WeakMap<object, LiveHandoff>();

  async function subscribeToEvents(args: ExecutionArgs): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    const key = eventsPayloadKey(args);
    const source = await createSourceEventStream(args);
    if (key === undefined || !isLiveSubscription(source)) return source as ExecutionResult;
    const { renderer, release } = renderers.acquire(args, key);
    source.onEnd(release);
    // Yoga's node adapter puts the Node request and response in every HTTP operation's context.
    const context = args.contextValue as { request?: Request; res?: unknown } | undefined;
    const response = context?.res instanceof ServerResponse ? context.res : undefined;
    const handoff: LiveHandoff = { subscription: source, renderer, response };
    if (context) handoffs.set(context, handoff);
    if (context?.request) handoffs.set(context.request, handoff);
    return resultsOf(source, renderer, (error) => clientError(error, args.contextValue, log));
  }

  return {
    take(contextValue) {
      if (typeof contextValue !== 'object' || contextValue === null) return undefined;
      const handoff = handoffs.get(contextValue);
      handoffs.delete(contextValue);
      return handoff;
    },
    plugin: {
      onContextBuilding({ context, extendContext }) {
        // An EventSource that reconnects sends the `id` of the last event it received.
        const lastEventId = (context as { request?: Request }).request?.headers.get('last-event-id');
        if (lastEventId) extendContext({ resumeAfter: lastEventId });
      },
      onSubscribe({ args, setSubscribeFn }) {
        if (eventsPayloadKey(args) !== undefined) setSubscribeFn(subscribeToEvents);
      },
      onResultProcess({ request, resultProcessor, setResultProcessor }) {
        const handoff = handoffs.get(request);
        // For a subscription Yoga picks a processor only when the client takes an event stream.
        if (!handoff || !resultProcessor || !acceptsEventStream(request)) return;
        handoffs.delete(request);
        setResultProcessor(
          (_result, fetchAPI) =>
            createSseResponse(handoff, fetchAPI, {
              keepAliveMs,
              signal: request.signal,
              toClientError: (error) => clientError(error, undefined, log),
            }),
          'text/event-stream',
        );
      },
    },
  };
}

function acceptsEventStream(request: Request): boolean {
  const accept = request.headers.get('accept') ?? '';
  return accept.includes('text/event-stream');
}

/** A live error as the client sees it: its code and details, or masked when unexpected. */
function clientError(error: unknown, contextValue: unknown, log: Logger): GraphQLError {
  const requestId = (contextValue as { requestId?: string } | undefined)?.requestId;
  return toClientError(error, requestId, (unexpected) => log.error({ err: unexpected }, 'a live subscription failed'));
}

/**
 * The subscription as execution results, for consumers that iterate. Ending it (return) ends the
 * subscription even when iteration never began, which an async generator would not do.
 */
function resultsOf(
  source: LiveSubscription,
  renderer: PayloadRenderer,
  toError: (error: unknown) => GraphQLError,
): AsyncIterableIterator<ExecutionResult> {
  let isDone = false;
  const done = (): IteratorResult<ExecutionResult> => ({ value: undefined, done: true });
  return {
    async next() {
      if (isDone) return done();
      try {
        const step = await source.next();
        if (step.done) {
          isDone = true;
          return done();
        }
        return { value: renderer.result(step.value), done: false };
      } catch (error) {
        // A slow-subscriber close (or any end with an error) is the stream's last result.
        isDone = true;
        return { value: { errors: [toError(error)] }, done: false };
      }
    },
    async return() {
      isDone = true;
      source.end();
      return done();
    },
    async throw(error) {
      isDone = true;
      source.end();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
