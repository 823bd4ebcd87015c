// Rebuild: replay the whole stream into a new generation while queries keep reading the live
// one, switch `live` to it once it has caught up, then retire the old generation. Nothing is
// counted twice: the new generation starts empty and is filled by its own projector.
import { RebuildInProgress } from './errors.js';
import type { ProjectorOptions } from './live-projector.js';
import { readPosition } from './position.js';
import { consumerName, startGenerationProjector } from './projector.js';

export interface RebuildOptions extends ProjectorOptions {
  /** How long the old generation stays after the switch, for requests still reading it. */
  retireAfterMs: number;
  /** How often progress is checked and reported. Default 500. */
  checkIntervalMs?: number;
  onProgress?: (progress: { generation: number; position: number; lag: number | undefined }) => void;
}

export interface RebuildResult {
  previous: number;
  generation: number;
  position: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function rebuildReadModels(options: RebuildOptions): Promise<RebuildResult> {
  const { store, jsm, stream, log } = options;
  await store.ensureLive();
  const building = await store.building();
  if (building) {
    // A rebuild that died leaves its generation behind; one that runs holds its lease.
    const lease = await store.leases.get(`g${building.generation}`);
    if (lease && lease.operation === 'PUT') throw new RebuildInProgress(building.generation);
    await store.dropGeneration(building.generation);
    await jsm.consumers.delete(stream, consumerName(building.generation)).catch(() => undefined);
  }
  const live = await store.live();
  if (!live) throw new Error('no live read-model generation');
  const previous = live.pointer.generation;
  const generation = Math.max(previous, building?.generation ?? 0) + 1;
  await store.dropGeneration(generation);
  await store.generation(generation);
  await store.setBuilding(generation);
  log.info({ generation, previous }, 'rebuilding the read models from the start of the stream');

  const projector = startGenerationProjector({ ...options, generation });
  let position = 0;
  try {
    for (;;) {
      await sleep(options.checkIntervalMs ?? 500);
      const status = projector.status();
      options.onProgress?.({ generation, position: status.position, lag: status.lag });
      const livePosition = (await readPosition(await store.generation(previous))).position.seq;
      // Caught up: within a batch of the stream's end (as last measured) and at least where live
      // stands, so that a query never sees counts go back when it moves to the new generation.
      const isCaughtUp = status.lag !== undefined && status.lag <= options.batch.maxMessages;
      if (isCaughtUp && status.position >= livePosition) {
        const current = await store.live();
        if (!current || current.pointer.generation !== previous) {
          throw new Error('the live generation changed while rebuilding; this rebuild is abandoned');
        }
        if (await store.switchLive(generation, current.revision)) {
          position = status.position;
          break;
        }
      }
    }
  } catch (err) {
    await projector.stop();
    await store.setBuilding(undefined);
    await store.dropGeneration(generation);
    await jsm.consumers.delete(stream, consumerName(generation)).catch(() => undefined);
    throw err;
  }
  // The live projectors take over the new generation from its position as soon as its lease is free.
  await projector.stop();
  await store.setBuilding(undefined);
  log.info({ generation, position }, 'switched queries to the rebuilt read models');

  await sleep(options.retireAfterMs);
  await store.dropGeneration(previous);
  await jsm.consumers.delete(stream, consumerName(previous)).catch(() => undefined);
  log.info({ generation: previous }, 'retired the previous read-model generation');
  return { previous, generation, position };
}
