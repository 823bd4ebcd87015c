import {
  type GenerationProjector,
  type GenerationProjectorOptions,
  type ProjectorStatus,
  startGenerationProjector,
} from './projector.js';

export type ProjectorOptions = Omit<GenerationProjectorOptions, 'generation'>;

/** The projector of whichever generation is live; it moves to a new one when a rebuild switches. */
export interface Projector {
  /** Undefined until the live generation is known. */
  status(): ProjectorStatus | undefined;
  stop(): Promise<void>;
}

export async function startProjector(options: ProjectorOptions): Promise<Projector> {
  await options.store.ensureLive();
  let current: GenerationProjector | undefined;
  let switching = Promise.resolve();
  const watch = await options.store.watchLive((generation) => {
    switching = switching.then(async () => {
      if (current?.status().generation === generation) return;
      // The old generation's lease is released first, so nothing writes two generations at once here.
      await current?.stop();
      options.log.info({ generation }, 'projecting the live read-model generation');
      current = startGenerationProjector({ ...options, generation });
    });
  });
  return {
    status: () => current?.status(),
    async stop() {
      await watch.stop();
      await switching;
      await current?.stop();
    },
  };
}
