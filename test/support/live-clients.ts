// Clients of the `events` subscription for tests: graphql-ws and graphql-sse's own clients, and a
// raw SSE reader (to see ids and send Last-Event-ID). Every wait is bounded.
import { createClient as createSseClient } from 'graphql-sse';
import { type Client, createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { gql } from './graphql.js';

/** An event as the tests select it. */
export interface LiveEvent {
  id: string;
  type: string;
  userId: string | null;
  anonymousId: string | null;
  cursor: string;
  receivedAt: string;
  properties: Record<string, unknown>;
}

export const EVENT_FIELDS = 'id type userId anonymousId cursor receivedAt properties';

export interface GraphQLErrorShape {
  message: string;
  extensions?: Record<string, unknown>;
}

/** What one subscription received, and ways to wait for more. */
export interface Collected {
  readonly events: LiveEvent[];
  readonly errors: GraphQLErrorShape[];
  readonly isComplete: boolean;
  /** Resolves once at least n events arrived; rejects after timeoutMs. */
  waitForEvents(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves once the subscription completed or failed; rejects after timeoutMs. */
  waitForEnd(timeoutMs?: number): Promise<void>;
  stop(): void;
}

/** Waits until check() holds; `what` (or what it returns, read at the time) names it in the timeout error. */
export async function waitUntil(
  what: string | (() => string),
  check: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function collector(): Collected & {
  onNext(result: { data?: unknown; errors?: readonly GraphQLErrorShape[] | null }): void;
  onError(error: unknown): void;
  onComplete(): void;
  setStop(stop: () => void): void;
} {
  const events: LiveEvent[] = [];
  const errors: GraphQLErrorShape[] = [];
  let isComplete = false;
  let stop = () => {};
  return {
    events,
    errors,
    get isComplete() {
      return isComplete;
    },
    onNext(result) {
      const data = result.data as { events?: LiveEvent } | null | undefined;
      if (data?.events) events.push(data.events);
      if (result.errors) errors.push(...result.errors);
    },
    onError(error) {
      if (Array.isArray(error)) errors.push(...(error as GraphQLErrorShape[]));
      else
        errors.push({
          message: error instanceof Error ? error.message : String((error as { reason?: string })?.reason ?? error),
          extensions: { closeCode: (error as { code?: number })?.code },
        });
      isComplete = true;
    },
    onComplete() {
      isComplete = true;
    },
    setStop(fn) {
      stop = fn;
    },
    waitForEvents(n, timeoutMs = 10_000) {
      return waitUntil(
        () => `${n} events (have ${events.length}, errors ${JSON.stringify(errors)})`,
        () => events.length >= n,
        timeoutMs,
      );
    },
    waitForEnd(timeoutMs = 10_000) {
      return waitUntil('the subscription to end', () => isComplete, timeoutMs);
    },
    stop: () => stop(),
  };
}

export function wsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/^http/, 'ws')}/graphql`;
}

/** A graphql-ws client (the library's own) on the `ws` package, without retries. */
export function wsClient(
  baseUrl: string,
  options: { onClosed?: (event: unknown) => void; isLazy?: boolean } = {},
): Client {
  return createWsClient({
    url: wsUrl(baseUrl),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    // A lazy client closes its socket itself (1000) once its last subscription ends.
    lazy: options.isLazy ?? true,
    // A socket that is not lazy reports its close here (tests look at on.closed instead).
    onNonLazyError: () => {},
    on: options.onClosed ? { closed: options.onClosed } : undefined,
  });
}

/** Subscribes over a graphql-ws client. */
export function subscribeWs(client: Client, query: string, variables?: Record<string, unknown>): Collected {
  const c = collector();
  const dispose = client.subscribe(
    { query, variables },
    { next: (r) => c.onNext(r), error: (e) => c.onError(e), complete: () => c.onComplete() },
  );
  c.setStop(dispose);
  return c;
}

/** Subscribes with graphql-sse's client in distinct connections mode (one HTTP request each). */
export function subscribeSse(baseUrl: string, query: string, variables?: Record<string, unknown>): Collected {
  const client = createSseClient({ url: `${baseUrl}/graphql`, retryAttempts: 0 });
  const c = collector();
  const dispose = client.subscribe(
    { query, variables },
    { next: (r) => c.onNext(r), error: (e) => c.onError(e), complete: () => c.onComplete() },
  );
  c.setStop(() => {
    dispose();
    client.dispose();
  });
  return c;
}

/** One SSE message as it came over the wire. */
export interface SseFrame {
  id?: string;
  event?: string;
  data: string;
}

/** Reads an SSE response frame by frame (raw fetch, so that ids and headers are visible). */
export interface RawSse {
  readonly status: number;
  readonly frames: SseFrame[];
  /** The `next` events received. */
  events(): LiveEvent[];
  waitForFrames(check: (frames: SseFrame[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function openRawSse(
  baseUrl: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<RawSse> {
  const url = new URL(`${baseUrl}/graphql`);
  url.searchParams.set('query', query);
  if (variables) url.searchParams.set('variables', JSON.stringify(variables));
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const frames: SseFrame[] = [];
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const frame: SseFrame = { data: '' };
          let hasField = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':') || line === '') continue;
            const at = line.indexOf(':');
            const field = at === -1 ? line : line.slice(0, at);
            const value = at === -1 ? '' : line.slice(at + 1).replace(/^ /, '');
            hasField = true;
            if (field === 'id') frame.id = value;
            else if (field === 'event') frame.event = value;
            else if (field === 'data') frame.data = frame.data ? `${frame.data}\n${value}` : value;
          }
          if (hasField) frames.push(frame);
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    status: res.status,
    frames,
    events: () =>
      frames
        .filter((f) => f.event === 'next')
        .map((f) => (JSON.parse(f.data) as { data?: { events?: LiveEvent } }).data?.events)
        .filter((e): e is LiveEvent => e !== undefined),
    waitForFrames: (check, what, timeoutMs = 10_000) =>
      waitUntil(
        () => `${what} (frames: ${JSON.stringify(frames).slice(0, 500)})`,
        () => check(frames),
        timeoutMs,
      ),
    async close() {
      abort.abort();
      await reading;
    },
  };
}

/** Tracks one event over HTTP and returns it as stored. */
export async function track(
  baseUrl: string,
  event: { type: string; userId?: string; anonymousId?: string; properties?: Record<string, unknown> },
): Promise<LiveEvent> {
  const res = await gql(
    baseUrl,
    `mutation ($event: TrackEventInput!) { track(event: $event) { event { ${EVENT_FIELDS} } } }`,
    { event },
  );
  if (res.errors) throw new Error(`track failed: ${JSON.stringify(res.errors)}`);
  return res.data.track.event as LiveEvent;
}

/** Tracks events one after another (each acknowledged before the next), in the order given. */
export async function trackInOrder(
  baseUrl: string,
  events: Array<{ type: string; userId?: string; anonymousId?: string; properties?: Record<string, unknown> }>,
): Promise<LiveEvent[]> {
  const stored: LiveEvent[] = [];
  for (const event of events) stored.push(await track(baseUrl, event));
  return stored;
}

/** The stream sequence a cursor names (cursors are base64url of "v1:<seq>"). */
export function seqOf(cursor: string): number {
  return Number(Buffer.from(cursor, 'base64url').toString().slice(3));
}

/** A value of one metric line in Prometheus text, e.g. metric(text, 'pulse_live_subscribers', 'transport="ws"'). */
export function metricValue(text: string, name: string, labels?: string): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `) || (!labels && l.startsWith(`${name}{}`)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
}

export async function metrics(baseUrl: string): Promise<string> {
  return (await fetch(`${baseUrl}/metrics`)).text();
}
