// Clients that present API keys on each transport: HTTP (Authorization header), SSE (raw fetch of
// text/event-stream), WebSocket (graphql-ws connection_init payload) and the NATS service
// (Authorization header). Every wait is bounded.
import { connect, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { gql } from './graphql.js';
import { waitUntil, wsUrl } from './live-clients.js';

export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** A GraphQL POST with a key (or none), answering status, body and headers. */
export async function gqlWithKey(baseUrl: string, key: string | undefined, query: string, variables?: object) {
  return gql(baseUrl, query, variables as Record<string, unknown>, key ? bearer(key) : {});
}

/** The codes of a GraphQL response's errors. */
export const codesOf = (result: { errors?: Array<{ extensions?: Record<string, unknown> }> | null }) =>
  (result.errors ?? []).map((e) => e.extensions?.code);

/** A graphql-ws connection that is not lazy: it connects at once and reports how it closed. */
export interface KeyedSocket {
  readonly client: Client;
  /** The close code and reason once the socket closed. */
  readonly closed: { code: number; reason: string } | undefined;
  readonly isConnected: boolean;
  waitForClose(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  waitForConnected(timeoutMs?: number): Promise<void>;
  dispose(): Promise<void>;
}

export function keyedSocket(
  baseUrl: string,
  connectionParams: Record<string, unknown> | undefined,
  options: { headers?: Record<string, string> } = {},
): KeyedSocket {
  let closed: { code: number; reason: string } | undefined;
  let isConnected = false;
  // A WebSocket class that adds headers (e.g. Origin) to the upgrade request.
  const Impl = options.headers
    ? class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: options.headers });
        }
      }
    : WebSocket;
  const client = createClient({
    url: wsUrl(baseUrl),
    webSocketImpl: Impl,
    retryAttempts: 0,
    lazy: false,
    connectionParams,
    onNonLazyError: () => {},
    on: {
      connected: () => {
        isConnected = true;
      },
      closed: (event) => {
        const e = event as { code?: number; reason?: string };
        closed = { code: e.code ?? 0, reason: String(e.reason ?? '') };
      },
    },
  });
  return {
    client,
    get closed() {
      return closed;
    },
    get isConnected() {
      return isConnected;
    },
    async waitForClose(timeoutMs = 10_000) {
      await waitUntil('the socket to close', () => closed !== undefined, timeoutMs);
      return closed as { code: number; reason: string };
    },
    waitForConnected: (timeoutMs = 10_000) =>
      waitUntil(
        () => `the socket to connect (closed: ${JSON.stringify(closed)})`,
        () => isConnected,
        timeoutMs,
      ),
    async dispose() {
      await client.dispose();
    },
  };
}

/** One operation over a graphql-ws client: every result until it completes or fails. */
export async function runOverSocket(
  client: Client,
  query: string,
  variables?: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<Array<{ data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }>> {
  const results: Array<{ data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }> =
    [];
  let isDone = false;
  const dispose = client.subscribe(
    { query, variables },
    {
      next: (result) => results.push(result as (typeof results)[number]),
      error: (error) => {
        results.push({ errors: Array.isArray(error) ? error : [{ message: String(error) }] });
        isDone = true;
      },
      complete: () => {
        isDone = true;
      },
    },
  );
  try {
    await waitUntil(`"${query.slice(0, 60)}" to finish`, () => isDone, timeoutMs);
  } finally {
    dispose();
  }
  return results;
}

/** A plain NATS client for the service endpoints, with headers. */
export async function natsClient(url: string): Promise<NatsConnection> {
  return connect({ servers: url, name: 'test-keyed-client' });
}

export async function askService(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  headerValues: Record<string, string> = {},
) {
  const h = natsHeaders();
  for (const [name, value] of Object.entries(headerValues)) h.set(name, value);
  const msg = await nc.request(subject, typeof body === 'string' ? body : JSON.stringify(body), {
    timeout: 10_000,
    headers: h,
  });
  const status = msg.headers?.get('Nats-Service-Error-Code');
  // biome-ignore lint/suspicious/noExplicitAny: replies are read freely; assertions check their shape.
  return { msg, body: JSON.parse(msg.string()) as any, errorCode: status ? Number(status) : undefined };
}
