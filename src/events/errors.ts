/** One problem with one item of a track or trackBatch call. */
export interface InvalidItem {
  index: number;
  field: string;
  message: string;
}

/** Input that cannot become an event. Nothing was published. */
export class InvalidEventInput extends Error {
  readonly code = 'BAD_USER_INPUT';
  readonly invalid: InvalidItem[];
  constructor(message: string, invalid: InvalidItem[]) {
    super(message);
    this.name = 'InvalidEventInput';
    this.invalid = invalid;
  }
}

/** A message on the stream that is not a valid event (for example published by another service). */
export class MalformedEvent extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MalformedEvent';
  }
}
