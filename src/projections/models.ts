import { eventCountsModel } from './event-counts.js';
import { sketchesModel, typeIndexModel, typeStatsModel } from './event-types.js';
import { profilesModel } from './profiles.js';
import type { ReadModel } from './read-model.js';
import { recentEventsModel } from './recent-events.js';

/** Every read model, in the order a batch applies them: sketches before the type totals that read them. */
export function createModels(options: { recentEvents: number }): ReadModel[] {
  return [
    sketchesModel,
    typeStatsModel,
    typeIndexModel,
    eventCountsModel,
    recentEventsModel(options),
    profilesModel(options),
  ] as ReadModel[];
}
