/** What a key may do: `ingest` (track, trackBatch), `read` (queries, subscriptions), `admin` (all). */
export type Scope = 'ingest' | 'read' | 'admin';

export const SCOPES: readonly Scope[] = ['ingest', 'read', 'admin'];

/** Who made a request: a key's public id (never the key) and its scopes. */
export interface Principal {
  /** The first 12 hex digits of the key's SHA-256: safe to log and to count by. */
  keyId: string;
  scopes: ReadonlySet<Scope>;
}

/** The principal of an open Pulse (no keys configured): everything is allowed. */
export const OPEN_PRINCIPAL: Principal = { keyId: 'open', scopes: new Set(SCOPES) };

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has('admin') || principal.scopes.has(scope);
}
