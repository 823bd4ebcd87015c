export {
  CursorExpired,
  InvalidLiveRequest,
  LiveClosed,
  LiveLimitExceeded,
  LiveUnavailable,
  SlowSubscriber,
} from './errors.js';
export type { EventFilterInput } from './filter.js';
export {
  createLiveService,
  DEFAULT_LIVE_LIMITS,
  type LiveConnection,
  type LiveLimits,
  type LiveRequest,
  type LiveService,
  type LiveServiceOptions,
  type LiveStats,
} from './service.js';
export {
  isSubscriber as isLiveSubscription,
  type LiveSink,
  type LiveTransport,
  type Subscriber as LiveSubscription,
} from './subscriber.js';
