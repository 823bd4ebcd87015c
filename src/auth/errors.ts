/** The request carries no key, or one that is not configured. */
export class Unauthenticated extends Error {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'an API key is required: send `Authorization: Bearer <key>`') {
    super(message);
    this.name = 'Unauthenticated';
  }
}

/** The key is valid but lacks the scope this operation needs. */
export class Forbidden extends Error {
  readonly code = 'FORBIDDEN';
  constructor(scope: string) {
    super(`this API key lacks the "${scope}" scope`);
    this.name = 'Forbidden';
  }
}

/** Too many requests for this key; retry after the time given. */
export class RateLimited extends Error {
  readonly code = 'RATE_LIMITED';
  readonly details: { retryAfterMs: number };
  constructor(what: string, retryAfterMs: number) {
    super(`rate limit for ${what} exceeded; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
    this.name = 'RateLimited';
    this.details = { retryAfterMs: Math.ceil(retryAfterMs) };
  }
}

/** A configured key entry that cannot be read. */
export class KeyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyConfigError';
  }
}

/** A key holds as many live connections as it may. `setting` names the variable that sets the bound. */
export class TooManyConnections extends Error {
  readonly code = 'LIMIT_EXCEEDED';
  readonly details: { setting: string; max: number };
  constructor(max: number) {
    super(`this API key holds its maximum of ${max} live connections (WebSocket connections and SSE streams)`);
    this.name = 'TooManyConnections';
    this.details = { setting: 'PULSE_MAX_CONNECTIONS_PER_KEY', max };
  }
}
