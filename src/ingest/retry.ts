import { JetStreamApiError } from '@nats-io/jetstream';
import { ClosedConnectionError, DrainingConnectionError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { NoStreamResponders } from '../nats/index.js';

/**
 * Whether a failed publish may succeed if tried again: timeouts, "no responders" and "JetStream
 * not enabled" (both seen for a few seconds during a leader election or a restart), and
 * server-side 503s. A closed or draining connection will not come back; other API errors
 * (a full stream, a rejected message) answer the same way every time.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof ClosedConnectionError || err instanceof DrainingConnectionError) return false;
  if (
    err instanceof TimeoutError ||
    err instanceof NoStreamResponders ||
    err instanceof RequestError ||
    (err instanceof Error && err.name === 'JetStreamNotEnabled')
  )
    return true;
  if (err instanceof JetStreamApiError) return err.status === 503 || err.status === 408;
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'ConnectionError');
}

/** Whether the stream refused the message because it is out of space. */
export function isStoreFull(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    /maximum (bytes|messages)|insufficient (storage|resources)|exceeded/i.test(err.message)
  );
}

/** Exponential backoff with full jitter: attempt 0 waits up to baseMs, doubling up to capMs. */
export function backoffMs(attempt: number, baseMs = 25, capMs = 1000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}
