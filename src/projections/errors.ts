/** A read-your-writes wait ran out before the projector applied the event the client named. */
export class ConsistencyTimeout extends Error {
  readonly code = 'CONSISTENCY_TIMEOUT';
  readonly details: Record<string, unknown>;
  constructor(message: string, details: { minCursor: string; position: number; waitedMs: number }) {
    super(message);
    this.name = 'ConsistencyTimeout';
    this.details = details;
  }
}

/** A query argument the read models cannot answer (the message names the argument). */
export class InvalidQueryInput extends Error {
  readonly code = 'BAD_USER_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidQueryInput';
  }
}

/** Another rebuild is running: one at a time. */
export class RebuildInProgress extends Error {
  constructor(generation: number) {
    super(`a rebuild (generation ${generation}) is already running`);
    this.name = 'RebuildInProgress';
  }
}
