export { createMetrics, type Metrics } from './metrics.js';
export { createHttpServer, type HttpServer, type HttpServerOptions } from './server.js';
export { createPulseYoga, type PulseYoga, type YogaOptions } from './yoga.js';
