import { builder } from './builder.js';

/** A snapshot of the process and its event stream, for dashboards and operators. */
export interface SystemStatus {
  nats: { connected: boolean; state: string; reconnects: number };
  stream: { name: string; messages: number; bytes: number; firstSeq: number; lastSeq: number };
  subscribers: { ws: number; sse: number; total: number };
}

const NatsStatusRef = builder.objectRef<SystemStatus['nats']>('NatsStatus').implement({
  description: "This process's NATS connection.",
  fields: (t) => ({
    connected: t.exposeBoolean('connected'),
    state: t.exposeString('state', { description: 'connected, disconnected, reconnecting or closed.' }),
    reconnects: t.exposeInt('reconnects', { description: 'Times the connection came back after it was lost.' }),
  }),
});

const StreamStatusRef = builder.objectRef<SystemStatus['stream']>('StreamStatus').implement({
  description: 'The JetStream stream that holds the events.',
  fields: (t) => ({
    name: t.exposeString('name'),
    messages: t.field({ type: 'SafeInt', description: 'Events stored.', resolve: (s) => s.messages }),
    bytes: t.field({ type: 'SafeInt', description: 'Bytes stored.', resolve: (s) => s.bytes }),
    firstSeq: t.field({ type: 'SafeInt', description: 'The oldest sequence held.', resolve: (s) => s.firstSeq }),
    lastSeq: t.field({ type: 'SafeInt', description: 'The newest sequence held.', resolve: (s) => s.lastSeq }),
  }),
});

const SystemStatusRef = builder.objectRef<SystemStatus>('SystemStatus').implement({
  description: 'The state of this Pulse process and its event stream.',
  fields: (t) => ({
    nats: t.field({ type: NatsStatusRef, resolve: (s) => s.nats }),
    stream: t.field({ type: StreamStatusRef, resolve: (s) => s.stream }),
    subscribers: t.int({
      description: 'Live subscriptions this process serves now (WebSocket and SSE).',
      resolve: (s) => s.subscribers.total,
    }),
  }),
});

builder.queryField('system', (t) =>
  t.field({
    type: SystemStatusRef,
    description: 'The state of this process: NATS connection, stream size, live subscribers.',
    resolve: (_root, _args, ctx) => ctx.systemStatus(),
  }),
);
