// A subscriber of `events` that, whenever its connection ends, can resume where it left off: with
// `after: <last cursor received>` as the README tells clients to (graphql-ws, graphql-sse), or as a
// browser's EventSource does, the same request again with Last-Event-ID. It keeps every event
// received over all its connections, in arrival order.
import type { Client } from 'graphql-ws';
import {
  type Collected,
  EVENT_FIELDS,
  type GraphQLErrorShape,
  type LiveEvent,
  subscribeSse,
  subscribeWs,
  waitUntil,
  wsClient,
} from './live-clients.js';

/** How a subscriber connects and resumes. */
export type ResumeTransport = 'ws' | 'sse' | 'last-event-id';

const RESUMABLE = `subscription ($after: String) { events(after: $after) { ${EVENT_FIELDS} } }`;

export interface ResumingSubscriber {
  readonly transport: ResumeTransport;
  /** Every event received, over every connection, in arrival order. */
  events(): LiveEvent[];
  /** The GraphQL errors received (with an extensions.code): a cut connection is not one. */
  graphqlErrors(): GraphQLErrorShape[];
  /** Connections opened so far. */
  connections(): number;
  /** When each event (by its index in events()) was first seen here, sampled every 20 ms. */
  arrivals(): number[];
  /** Events received on the current connection. */
  eventsOnCurrent(): number;
  isEnded(): boolean;
  /** Waits (bounded) until the current connection ended. */
  waitForEnd(timeoutMs?: number): Promise<void>;
  /** Waits (bounded) until n events were received in all. */
  waitForEvents(n: number, timeoutMs?: number): Promise<void>;
  /** Opens a new connection to baseUrl, after the last cursor received (or the first one given). */
  resume(baseUrl: string): void;
  stop(): Promise<void>;
}

/**
 * An SSE subscription read as an EventSource reads it: every frame's `id` remembered, and sent
 * back as Last-Event-ID on the next connection.
 */
function subscribeEventSource(
  baseUrl: string,
  variables: Record<string, unknown>,
  lastEventId: string | undefined,
): Collected & { lastEventId(): string | undefined } {
  const events: LiveEvent[] = [];
  const errors: GraphQLErrorShape[] = [];
  let isComplete = false;
  let lastId = lastEventId;
  const abort = new AbortController();
  const url = new URL(`${baseUrl}/graphql`);
  url.searchParams.set('query', RESUMABLE);
  url.searchParams.set('variables', JSON.stringify(variables));
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  void (async () => {
    try {
      const res = await fetch(url, { headers, signal: abort.signal });
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const field = (name: string) =>
            block
              .split('\n')
              .find((line) => line.startsWith(`${name}:`))
              ?.slice(name.length + 1)
              .trim();
          const id = field('id');
          if (id) lastId = id;
          if (field('event') !== 'next') continue;
          const result = JSON.parse(field('data') ?? '{}') as {
            data?: { events?: LiveEvent };
            errors?: GraphQLErrorShape[];
          };
          if (result.data?.events) events.push(result.data.events);
          if (result.errors) errors.push(...result.errors);
        }
      }
    } catch {
      // cut or aborted: the connection ended
    } finally {
      isComplete = true;
    }
  })();
  return {
    events,
    errors,
    get isComplete() {
      return isComplete;
    },
    waitForEvents: (n, timeoutMs = 10_000) => waitUntil(`${n} events`, () => events.length >= n, timeoutMs),
    waitForEnd: (timeoutMs = 10_000) => waitUntil('the connection to end', () => isComplete, timeoutMs),
    stop: () => abort.abort(),
    lastEventId: () => lastId,
  };
}

export function resumingSubscriber(
  transport: ResumeTransport,
  baseUrl: string,
  startAfter: string,
): ResumingSubscriber {
  const past: Collected[] = [];
  let current: Collected | undefined;
  let client: Client | undefined;
  const connectionsSoFar = () => (current ? [...past, current] : past);
  const all = () => connectionsSoFar().flatMap((c) => c.events);

  let lastEventId: (() => string | undefined) | undefined;

  function open(url: string): void {
    const after = all().at(-1)?.cursor ?? startAfter;
    if (transport === 'last-event-id') {
      // The same request every time, as an EventSource makes it; only the header moves on.
      const source = subscribeEventSource(url, { after: startAfter }, lastEventId?.());
      lastEventId = source.lastEventId;
      current = source;
    } else if (transport === 'ws') {
      const previous = client;
      void previous?.dispose();
      client = wsClient(url);
      current = subscribeWs(client, RESUMABLE, { after });
    } else {
      current = subscribeSse(url, RESUMABLE, { after });
    }
  }
  open(baseUrl);
  let connections = 1;
  const now = () => current as Collected;
  const arrivals: number[] = [];
  const sampler = setInterval(() => {
    const received = all().length;
    while (arrivals.length < received) arrivals.push(Date.now());
  }, 20);
  sampler.unref();

  return {
    transport,
    events: all,
    arrivals: () => [...arrivals],
    graphqlErrors: () =>
      connectionsSoFar()
        .flatMap((c) => c.errors)
        .filter((e) => e.extensions?.code !== undefined),
    connections: () => connections,
    eventsOnCurrent: () => now().events.length,
    isEnded: () => now().isComplete,
    waitForEnd: (timeoutMs = 15_000) => now().waitForEnd(timeoutMs),
    waitForEvents: (n, timeoutMs = 30_000) =>
      waitUntil(`${n} events over ${transport} (have ${all().length})`, () => all().length >= n, timeoutMs),
    resume(url) {
      now().stop();
      past.push(now());
      open(url);
      connections++;
    },
    async stop() {
      clearInterval(sampler);
      now().stop();
      await client?.dispose();
    },
  };
}
