export { EventBusUnavailable } from './errors.js';
export { createPublisher, type PublishAck, type Publisher, type PublisherOptions } from './publisher.js';
export { isStoreFull, isTransient } from './retry.js';
export {
  createTracker,
  type TrackBatchResult,
  type Tracker,
  type TrackerOptions,
  type TrackOptions,
  type TrackResult,
} from './tracker.js';
