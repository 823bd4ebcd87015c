import type { Scope } from '../auth/index.js';

export type { Scope };

/**
 * Checks the `Authorization` header of a request (undefined when it has none) for a scope. It
 * resolves when the request may go on, and rejects with an error whose `code` is
 * UNAUTHENTICATED (no or unknown key) or FORBIDDEN (a key without the scope) otherwise: the
 * same check HTTP makes, which app.ts hands to the service.
 */
export type Authorize = (authorization: string | undefined, scope: Scope) => void | Promise<void>;

/** Every request may do everything: what Pulse does when no API keys are configured. */
export const allowEveryone: Authorize = () => {};
