// A subscriber of `events` that, whenever its connection ends, can resume where it left off with
// `after: <last cursor received>`, as the README tells clients to. It keeps every event received
// over all its connections, in arrival order.
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

const RESUMABLE = `subscription ($after: String) { events(after: $after) { ${EVENT_FIELDS} } }`;

export interface ResumingSubscriber {
  readonly transport: 'ws' | 'sse';
  /** Every event received, over every connection, in arrival order. */
  events(): LiveEvent[];
  /** The GraphQL errors received (with an extensions.code): a cut connection is not one. */
  graphqlErrors(): GraphQLErrorShape[];
  /** Connections opened so far. */
  connections(): number;
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

export function resumingSubscriber(transport: 'ws' | 'sse', baseUrl: string, startAfter: string): ResumingSubscriber {
  const past: Collected[] = [];
  let current: Collected | undefined;
  let client: Client | undefined;
  const connectionsSoFar = () => (current ? [...past, current] : past);
  const all = () => connectionsSoFar().flatMap((c) => c.events);

  function open(url: string): void {
    const after = all().at(-1)?.cursor ?? startAfter;
    if (transport === 'ws') {
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

  return {
    transport,
    events: all,
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
      now().stop();
      await client?.dispose();
    },
  };
}
