// The dashboard is a client of Pulse's public GraphQL API like any other: queries over HTTP POST,
// live data over GraphQL over WebSocket (graphql-ws), with the API key when Pulse asks for one.
import { type Client, createClient } from 'graphql-ws';

const KEY_STORAGE = 'pulse.dashboard.apiKey';

export class AuthRequired extends Error {
  constructor(readonly code: 'UNAUTHENTICATED' | 'FORBIDDEN') {
    super(code === 'FORBIDDEN' ? 'this key cannot read' : 'an API key with the read scope is needed');
  }
}

export interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; [key: string]: unknown };
}

export type ConnectionState = 'connecting' | 'live' | 'offline';

export function storedKey(): string | undefined {
  return sessionStorage.getItem(KEY_STORAGE) ?? undefined;
}

export function storeKey(key: string | undefined): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

function authHeader(): Record<string, string> {
  const key = storedKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

function authError(errors: readonly GraphQLErrorShape[] | undefined): AuthRequired | undefined {
  const code = errors?.find((e) => e.extensions?.code === 'UNAUTHENTICATED' || e.extensions?.code === 'FORBIDDEN')
    ?.extensions?.code;
  return code ? new AuthRequired(code as 'UNAUTHENTICATED' | 'FORBIDDEN') : undefined;
}

/** One query over HTTP. Throws AuthRequired when Pulse wants a (better) key. */
export async function query<T>(document: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...authHeader() },
    body: JSON.stringify({ query: document, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: GraphQLErrorShape[] };
  const denied = authError(body.errors);
  if (denied) throw denied;
  if (body.errors?.length) throw new Error(body.errors[0].message);
  return body.data as T;
}

let client: Client | undefined;
const stateListeners = new Set<(state: ConnectionState) => void>();

function setState(state: ConnectionState): void {
  for (const listener of stateListeners) listener(state);
}

export function onConnectionState(listener: (state: ConnectionState) => void): void {
  stateListeners.add(listener);
}

function wsClient(): Client {
  if (client) return client;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  // No retries inside the client: it would resubscribe with the variables of the first subscribe,
  // while subscribe() below resumes each subscription from the last cursor it saw.
  client = createClient({
    url,
    lazy: true,
    keepAlive: 10_000,
    retryAttempts: 0,
    connectionParams: () => {
      const key = storedKey();
      return key ? { authorization: `Bearer ${key}` } : {};
    },
    on: {
      connecting: () => setState('connecting'),
      connected: () => setState('live'),
      closed: () => setState('offline'),
    },
  });
  return client;
}

/** Drops the socket, so that the next subscription reconnects (with a new key). */
export function resetConnection(): void {
  client?.terminate();
  client = undefined;
}

export interface Subscription {
  stop(): void;
}

/**
 * Runs a subscription until stopped. When it ends for any reason but stop() (a network drop, a
 * Pulse restart, a slow-subscriber close), it starts again with the variables `resume` gives, so a
 * caller can continue from its last cursor.
 */
export function subscribe<T>(
  document: string,
  variables: () => Record<string, unknown>,
  handlers: { next: (data: T) => void; denied: (error: AuthRequired) => void },
): Subscription {
  let stopped = false;
  let dispose: (() => void) | undefined;
  let attempt = 0;

  const start = () => {
    if (stopped) return;
    dispose = wsClient().subscribe<T>(
      { query: document, variables: variables() },
      {
        next: (result) => {
          attempt = 0;
          const denied = authError(result.errors as GraphQLErrorShape[] | undefined);
          if (denied) {
            stopped = true;
            handlers.denied(denied);
            return;
          }
          if (result.data) handlers.next(result.data);
        },
        error: (error) => {
          const errors = Array.isArray(error) ? (error as GraphQLErrorShape[]) : undefined;
          const denied = authError(errors);
          if (denied || (error instanceof CloseEvent && (error.code === 4401 || error.code === 4403))) {
            stopped = true;
            handlers.denied(
              denied ??
                new AuthRequired(error instanceof CloseEvent && error.code === 4403 ? 'FORBIDDEN' : 'UNAUTHENTICATED'),
            );
            return;
          }
          restart();
        },
        complete: () => restart(),
      },
    );
  };
  const restart = () => {
    if (stopped) return;
    attempt++;
    setTimeout(start, Math.min(5000, 200 * 2 ** attempt) * (0.5 + Math.random()));
  };
  start();
  return {
    stop() {
      stopped = true;
      dispose?.();
    },
  };
}
