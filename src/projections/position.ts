import type { KV } from '@nats-io/kv';
import { liveValue } from '../nats/index.js';
import { json } from './read-model.js';

/**
 * Where a generation's projector stands: every event up to seq is in every read model. Written
 * after each batch's keys, so a reader that sees it sees their values too. Its key is under `s.`
 * with the time buckets and type totals, so that one watch sees the changes and the commit after them.
 */
export interface Position {
  /** The last stream sequence applied. */
  seq: number;
  /** Events applied in total. */
  applied: number;
  /** Messages moved to the dead-letter stream in total. */
  deadLetters: number;
  updatedAt: string | null;
}

export const POSITION_KEY = 's.pos';

export const START_POSITION: Position = { seq: 0, applied: 0, deadLetters: 0, updatedAt: null };

export async function readPosition(kv: KV): Promise<{ position: Position; revision: number }> {
  const entry = await kv.get(POSITION_KEY);
  const value = liveValue(entry);
  return value && entry
    ? { position: json.decode<Position>(value), revision: entry.revision }
    : { position: START_POSITION, revision: 0 };
}

/** Writes the position if it is still at revision; returns the new revision. */
export function writePosition(kv: KV, position: Position, revision: number): Promise<number> {
  const data = json.encode(position);
  return revision === 0 ? kv.create(POSITION_KEY, data) : kv.update(POSITION_KEY, data, revision);
}
