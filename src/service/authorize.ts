import type { Scope } from '../auth/index.js';

export type { Scope };

/**
 * Checks the `Authorization` header of a request (undefined when it has none) for a scope. It
 * resolves when the request may go on, and rejects with an error whose `code` is
 * UNAUTHENTICATED (no or unknown key), FORBIDDEN (a key without the scope) or RATE_LIMITED (the
 * key's ingest rate is spent by `events`) otherwise: the same check HTTP makes, which app.ts
 * hands to the service. `events` (default 0) is what the request stores, charged to the key.
 */
export type Authorize = (authorization: string | undefined, scope: Scope, events?: number) => void | Promise<void>;

/** Every request may do everything: what Pulse does when no API keys are configured. */
export const allowEveryone: Authorize = () => {};
