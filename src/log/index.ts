export { createLogger, currentRequestId, inRequestScope, type Logger, type RequestScope } from './logger.js';
