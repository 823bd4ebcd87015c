import type { Logger } from 'pino';
import { Forbidden, RateLimited, TooManyConnections, Unauthenticated } from './errors.js';
import type { Keyring } from './keyring.js';
import { hasScope, OPEN_PRINCIPAL, type Principal, type Scope } from './scopes.js';
import { createTokenBucket, type TokenBucket } from './token-bucket.js';

/** Per-key bounds; 0 switches a rate off. */
export interface AccessLimits {
  /** Events a key may send per second (a trackBatch of n costs n). Default 10000. */
  eventsPerSec: number;
  /** Events a key may send at once above its rate. Default 20000. */
  eventsBurst: number;
  /** Subscriptions a key may open per second. Default 10. */
  subscriptionsPerSec: number;
  /** Subscriptions a key may open at once above its rate. Default 50. */
  subscriptionsBurst: number;
  /** WebSocket connections plus SSE streams one key may hold at once. Default 1000. */
  maxConnectionsPerKey: number;
}

export const DEFAULT_ACCESS_LIMITS: AccessLimits = {
  eventsPerSec: 10_000,
  eventsBurst: 20_000,
  subscriptionsPerSec: 10,
  subscriptionsBurst: 50,
  maxConnectionsPerKey: 1000,
};

/** How a held connection is told that its key was removed: it closes itself. */
export type CloseConnection = () => void;

/**
 * Who may do what, for every transport: the key of a request, its scopes, and the per-key rates
 * and connection bounds. With no keys configured everything is allowed and nothing is limited
 * per key (there are none); the process-wide limits still apply.
 */
export interface AccessControl {
  /** True when no keys are configured. */
  isOpen(): boolean;
  /** The principal of an `Authorization` header value; throws Unauthenticated when it names no key. */
  authenticate(authorization: string | null | undefined): Principal;
  /** The key of a graphql-ws connection_init payload: `{ authorization: "Bearer …" }` or `{ apiKey }`. */
  authenticateConnection(params: Readonly<Record<string, unknown>> | undefined): Principal;
  /** The principal as the last reload of the keys left it; throws Unauthenticated when it was removed. */
  refresh(principal: Principal): Principal;
  /** Throws Forbidden unless the principal has the scope. */
  require(principal: Principal, scope: Scope): void;
  /** Charges n events to the key's ingest rate; throws RateLimited when it is spent. */
  chargeEvents(principal: Principal, n: number): void;
  /** Charges one new subscription to the key's rate; throws RateLimited when it is spent. */
  chargeSubscription(principal: Principal): void;
  /**
   * Holds one of the key's live connections until the function returned is called; `close` is
   * called when the key is removed. Throws TooManyConnections past the bound.
   */
  holdConnection(principal: Principal, close: CloseConnection): () => void;
  /** Live connections held by a key now. */
  connectionsOf(keyId: string): number;
  close(): void;
}

const BEARER = /^\s*Bearer\s+(\S+)\s*$/i;

export function createAccessControl(options: {
  keyring: Keyring;
  limits?: Partial<AccessLimits>;
  log: Logger;
}): AccessControl {
  const { keyring, log } = options;
  const limits: AccessLimits = { ...DEFAULT_ACCESS_LIMITS, ...options.limits };
  const bucket = (ratePerSec: number, burst: number): TokenBucket | undefined =>
    ratePerSec > 0 ? createTokenBucket({ ratePerSec, burst: Math.max(1, burst) }) : undefined;
  const events = bucket(limits.eventsPerSec, limits.eventsBurst);
  const subscriptions = bucket(limits.subscriptionsPerSec, limits.subscriptionsBurst);
  const held = new Map<string, Set<CloseConnection>>();

  const stopWatching = keyring.onRemoved((keyIds) => {
    for (const keyId of keyIds) {
      const closers = held.get(keyId);
      if (!closers?.size) continue;
      log.info({ keyId, connections: closers.size }, 'closing the live connections of a removed API key');
      for (const close of [...closers]) {
        try {
          close();
        } catch (err) {
          log.warn({ err, keyId }, 'could not close a connection of a removed API key');
        }
      }
    }
  });

  function find(key: string | undefined): Principal {
    if (keyring.isOpen()) return OPEN_PRINCIPAL;
    if (!key) throw new Unauthenticated();
    const principal = keyring.find(key);
    if (!principal) throw new Unauthenticated('the API key is not valid');
    return principal;
  }

  const access: AccessControl = {
    isOpen: () => keyring.isOpen(),
    authenticate(authorization) {
      if (keyring.isOpen()) return OPEN_PRINCIPAL;
      if (!authorization) return find(undefined);
      const match = BEARER.exec(authorization);
      if (!match) throw new Unauthenticated('send the API key as `Authorization: Bearer <key>`');
      return find(match[1]);
    },
    authenticateConnection(params) {
      if (keyring.isOpen()) return OPEN_PRINCIPAL;
      const authorization = params?.authorization ?? params?.Authorization;
      if (typeof authorization === 'string') return access.authenticate(authorization);
      const apiKey = params?.apiKey;
      if (typeof apiKey === 'string') return find(apiKey);
      throw new Unauthenticated(
        'an API key is required: send { "authorization": "Bearer <key>" } in the connection_init payload',
      );
    },
    refresh(principal) {
      if (principal === OPEN_PRINCIPAL || keyring.isOpen()) return principal;
      const current = keyring.principalOf(principal.keyId);
      if (!current) throw new Unauthenticated('the API key was removed');
      return current;
    },
    require(principal, scope) {
      if (!hasScope(principal, scope)) throw new Forbidden(scope);
    },
    chargeEvents(principal, n) {
      if (!events || principal === OPEN_PRINCIPAL || n <= 0) return;
      const waitMs = events.take(principal.keyId, n);
      if (waitMs > 0) throw new RateLimited(`events of this API key (${limits.eventsPerSec}/s)`, waitMs);
    },
    chargeSubscription(principal) {
      if (!subscriptions || principal === OPEN_PRINCIPAL) return;
      const waitMs = subscriptions.take(principal.keyId, 1);
      if (waitMs > 0) {
        throw new RateLimited(`new subscriptions of this API key (${limits.subscriptionsPerSec}/s)`, waitMs);
      }
    },
    holdConnection(principal, close) {
      if (principal === OPEN_PRINCIPAL) return () => {};
      let closers = held.get(principal.keyId);
      if (!closers) {
        closers = new Set();
        held.set(principal.keyId, closers);
      }
      if (closers.size >= limits.maxConnectionsPerKey) throw new TooManyConnections(limits.maxConnectionsPerKey);
      // A wrapper per hold, so that the same close function held twice counts twice.
      const entry: CloseConnection = () => close();
      closers.add(entry);
      const mine = closers;
      return () => {
        mine.delete(entry);
        if (mine.size === 0 && held.get(principal.keyId) === mine) held.delete(principal.keyId);
      };
    },
    connectionsOf: (keyId) => held.get(keyId)?.size ?? 0,
    close() {
      stopWatching();
      held.clear();
    },
  };
  return access;
}
