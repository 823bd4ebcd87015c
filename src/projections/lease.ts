// One projector at a time per generation: the active one holds a key in the leases bucket, whose
// TTL (the bucket's max age) ends it when the holder stops renewing, so a standby takes over
// within one TTL of a crash. The lease saves work; correctness does not rest on it alone: every
// write is revision-checked and every value records the batch it reflects.
import { hostname } from 'node:os';
import type { KV } from '@nats-io/kv';
import { isRevisionConflict } from '../nats/index.js';
import { json } from './read-model.js';

export interface Lease {
  /** True while the lease is surely ours: renewed within the last three quarters of its TTL. */
  isHeld(): boolean;
  /** Resolves when the lease is lost (someone else holds it, or renewals kept failing). */
  readonly lost: Promise<void>;
  /** Stops renewing and deletes the key, so that a standby takes over at once. */
  release(): Promise<void>;
}

export interface LeaseOptions {
  ttlMs: number;
  /** Gives up waiting when aborted. */
  signal: AbortSignal;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** Waits until the lease is ours; undefined when the signal aborted first. */
export async function acquireLease(leases: KV, name: string, options: LeaseOptions): Promise<Lease | undefined> {
  const { ttlMs, signal } = options;
  const holder = json.encode({ holder: `${hostname()}:${process.pid}`, since: new Date().toISOString() });
  let revision = 0;
  let renewedAt = 0;
  while (!signal.aborted) {
    const attemptAt = Date.now();
    try {
      revision = await leases.create(name, holder);
      renewedAt = attemptAt;
      break;
    } catch (err) {
      if (!isRevisionConflict(err)) throw err;
    }
    await sleep(Math.max(50, ttlMs / 4), signal);
  }
  if (signal.aborted) return undefined;

  let markLost: () => void = () => undefined;
  const lost = new Promise<void>((resolve) => {
    markLost = resolve;
  });
  let isLost = false;
  const lose = () => {
    isLost = true;
    clearInterval(timer);
    markLost();
  };
  let renewing: Promise<void> = Promise.resolve();
  const renew = async () => {
    const attemptAt = Date.now();
    try {
      revision = await leases.update(name, holder, revision);
      renewedAt = attemptAt;
    } catch (err) {
      // Someone else holds it now; any other failure is retried until the TTL runs out.
      if (isRevisionConflict(err) || Date.now() - renewedAt > ttlMs) lose();
    }
  };
  const timer = setInterval(() => {
    renewing = renewing.then(renew);
  }, ttlMs / 4);

  return {
    isHeld: () => !isLost && Date.now() - renewedAt < ttlMs * 0.75,
    lost,
    async release() {
      if (isLost) return;
      clearInterval(timer);
      await renewing;
      if (isLost) return;
      lose();
      await leases.delete(name, { previousSeq: revision }).catch(() => undefined);
    },
  };
}
