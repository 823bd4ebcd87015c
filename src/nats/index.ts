export { createAckPublisher, type JetStreamPublisher, NoStreamResponders } from './ack-publisher.js';
export { connectNats, type NatsConnectOptions, type NatsLink, type NatsState } from './connection.js';
export {
  deleteKvBucket,
  hasKvBucket,
  isRevisionConflict,
  type KvBucketSpec,
  type KvWatch,
  type KvWatchSpec,
  liveValue,
  openKvBucket,
  provisionKvBucket,
  watchKv,
} from './kv-bucket.js';
export {
  findNatsServer,
  isListening,
  type LocalNatsServer,
  NatsServerMissing,
  startLocalNatsServer,
} from './local-server.js';
export { createReadinessCheck, type Readiness } from './readiness.js';
export { type EventStreamSpec, provisionEventStream, StreamConflict } from './stream.js';
export { createStreamReader, type StreamMessage, type StreamReader } from './stream-reader.js';
export { decodeToken, type EventSubjects, encodeToken, eventSubjects } from './subject.js';
