export { createLogger, type Logger } from './logger.js';
export { requestIdFrom } from './request-id.js';
