export { CSRF_HEADER } from './csrf.js';
export { createLiveDelivery, type LiveDelivery } from './live-delivery.js';
export { createMetrics, type Metrics, registerLiveMetrics } from './metrics.js';
export { createOriginPolicy, type OriginPolicy } from './origins.js';
export { createHttpServer, type HttpServer, type HttpServerOptions } from './server.js';
export { createGraphQLWebSocket, type GraphQLWebSocket } from './ws.js';
export { createPulseYoga, type PulseYoga, type YogaOptions } from './yoga.js';
