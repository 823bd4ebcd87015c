import { randomUUID } from 'node:crypto';

const GIVEN_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id a client gave (X-Request-Id, or the NATS header), when it is short and plain; else a new one. */
export function requestIdFrom(given: string | null | undefined): string {
  return typeof given === 'string' && GIVEN_REQUEST_ID.test(given) ? given : randomUUID();
}
