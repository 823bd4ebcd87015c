import { encodeCursor } from '../events/index.js';
import type { ProjectionState } from '../projections/index.js';
import { builder } from './builder.js';
import { reading } from './loaders.js';

const ProjectionStatusRef = builder.objectRef<ProjectionState>('ProjectionStatus').implement({
  description: 'How far a projection has applied the event stream.',
  fields: (t) => ({
    name: t.exposeString('name'),
    lag: t.field({ type: 'SafeInt', description: 'Events in the stream not yet applied.', resolve: (p) => p.lag }),
    position: t.field({
      type: 'SafeInt',
      description: 'The last stream sequence applied.',
      resolve: (p) => p.position,
    }),
    cursor: t.string({
      nullable: true,
      description: 'The cursor of the last event applied; null before the first.',
      resolve: (p) => (p.position > 0 ? encodeCursor(p.position) : null),
    }),
    generation: t.exposeInt('generation', {
      description: 'Which build of the read models (a rebuild makes a new one).',
    }),
    live: t.exposeBoolean('isLive', { description: 'Queries read this generation; false while a rebuild fills it.' }),
    applied: t.field({ type: 'SafeInt', description: 'Events applied.', resolve: (p) => p.applied }),
    deadLetters: t.field({
      type: 'SafeInt',
      description: 'Messages that were not events, moved to the dead-letter stream.',
      resolve: (p) => p.deadLetters,
    }),
    updatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.updatedAt }),
  }),
});

builder.queryField('projections', (t) =>
  t.field({
    type: [ProjectionStatusRef],
    description: 'Each projection: the live read models, and a rebuild in progress.',
    resolve: async (_root, _args, ctx) => (await reading(ctx)).readModels.reader.status(),
  }),
);
