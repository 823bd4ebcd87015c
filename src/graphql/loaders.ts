import DataLoader from 'dataloader';
import type { StoredEvent } from '../events/index.js';
import type { QueryLimits, ReadLoader, ReadModels, ReadView } from '../projections/index.js';
import type { PulseContext } from './context.js';

/**
 * The per-request loaders every read-model read goes through: reads of one tick are batched into
 * one round of concurrent KV gets, each distinct key read once per request. The first read pins
 * the request to the live generation, so a rebuild switching mid-request cannot mix two.
 */
export function createReadLoader(readModels: ReadModels): ReadLoader & { forget(): void } {
  let view: ReadView | undefined;
  const values = new DataLoader<string, unknown>((keys) => {
    view ??= readModels.reader.view();
    return view.read(keys);
  });
  const events = new DataLoader<number, StoredEvent | null>((seqs) => readModels.reader.eventsBySeq(seqs));
  return {
    value: <V>(key: string) => values.load(key) as Promise<V | undefined>,
    event: (seq) => events.load(seq),
    forget: () => values.clearAll(),
  };
}

/** The request's loader and limits, once the read models hold minCursor's event (read your writes). */
export async function reading(
  ctx: PulseContext,
  minCursor?: string | null,
): Promise<{ loader: ReadLoader; limits: QueryLimits; readModels: ReadModels }> {
  const { readModels } = ctx;
  if (!readModels) throw new Error('this process does not serve the read models');
  // Made at the first read: most operations (track, subscriptions) read no read model.
  ctx.readLoader ??= createReadLoader(readModels);
  const { readLoader } = ctx;
  // Values this request read before the wait may predate the event: read them again.
  if (minCursor && (await readModels.reader.waitFor(minCursor))) readLoader.forget();
  return { loader: readLoader, limits: readModels.limits, readModels };
}

export const minCursorDescription =
  'Read your writes: a cursor (from track or an event) the answer must reflect. The query waits until the ' +
  'read models hold that event, up to PULSE_CONSISTENCY_TIMEOUT (default 5 s), else fails with CONSISTENCY_TIMEOUT.';
