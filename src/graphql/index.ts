export { operationNeeds, useAccessControl } from './access-control.js';
export { useClientErrors } from './client-errors.js';
export { createRequestContext, type PulseContext, type PulseServices } from './context.js';
export { DEFAULT_DOCUMENT_LIMITS, type DocumentLimits, useDocumentLimits } from './document-limits.js';
export { toClientError } from './errors.js';
export { useInputErrorCodes } from './input-error-codes.js';
export {
  createPayloadRenderers,
  eventsPayloadKey,
  type FrameFormat,
  type PayloadRenderer,
  type PayloadRenderers,
} from './live-payload.js';
export { printPulseSchema, schema } from './schema.js';
