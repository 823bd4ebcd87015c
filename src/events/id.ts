import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

// ulid asks its generator for one random byte at a time (16 per id); a crypto call per byte cost
// several per cent of a busy process's CPU, so the bytes come from a pool refilled 4 KiB at a time.
const pool = new Uint8Array(4096);
let next = pool.length;
function pooledRandom(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++] / 256;
}

// ULIDs sort by creation time and stay unique within a millisecond (monotonic), so generated ids
// are sortable and collision-free across processes.
const nextUlid = monotonicFactory(pooledRandom);

/** A new event id. */
export function newEventId(): string {
  return nextUlid();
}
