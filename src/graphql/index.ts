export { createRequestContext, type PulseContext, type PulseServices } from './context.js';
export { toClientError } from './errors.js';
export { useInputErrorCodes } from './input-error-codes.js';
export { printPulseSchema, schema } from './schema.js';
