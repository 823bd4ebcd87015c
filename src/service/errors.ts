import type { GraphQLFormattedError } from 'graphql';
import { toClientError } from '../graphql/index.js';

// The numeric Nats-Service-Error-Code of each error code a client can see: HTTP's numbers, so
// that a NATS client tells bad input (4xx, do not retry) from an unavailable bus (503, retry).
const STATUS_BY_CODE: Record<string, number> = {
  BAD_USER_INPUT: 400,
  BAD_REQUEST: 400,
  GRAPHQL_PARSE_FAILED: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  OPERATION_NOT_SUPPORTED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CURSOR_EXPIRED: 410,
  LIMIT_EXCEEDED: 413,
  RATE_LIMITED: 429,
  INTERNAL_SERVER_ERROR: 500,
  EVENT_BUS_UNAVAILABLE: 503,
  CONSISTENCY_TIMEOUT: 504,
};

/** The Nats-Service-Error-Code for a contract error code; `fallback` (default 500) when it has none. */
export function statusOfCode(code: unknown, fallback = 500): number {
  return (typeof code === 'string' && STATUS_BY_CODE[code]) || fallback;
}

/** What a failed request is answered with: the framework's error headers and a JSON body. */
export interface ErrorReply {
  /** The contract's error code, e.g. BAD_USER_INPUT. */
  code: string;
  /** Nats-Service-Error-Code. */
  status: number;
  /** Nats-Service-Error: the message, on one line. */
  description: string;
  /** `{ "error": { "code", "message", ...details } }`, details as in the GraphQL error's extensions. */
  body: string;
}

/** A header value from any text: one line, bounded, so that it can never break the protocol. */
export function headerSafe(text: string, maxLength = 512): string {
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > maxLength ? `${line.slice(0, maxLength - 1)}…` : line;
}

/**
 * Turns an error of a track or trackBatch request into its reply, through the same masking as
 * GraphQL (toClientError): Pulse's own errors keep their code and details (`invalid`, `ids`,
 * `reason`); anything unexpected is reported and answered as INTERNAL_SERVER_ERROR with the
 * request id, without internals.
 */
export function toErrorReply(error: unknown, requestId: string, report: (error: unknown) => void): ErrorReply {
  const { message, extensions } = toClientError(error, requestId, report);
  const code = typeof extensions.code === 'string' ? extensions.code : 'INTERNAL_SERVER_ERROR';
  return {
    code,
    status: statusOfCode(code),
    description: headerSafe(message),
    body: JSON.stringify({ error: { ...extensions, code, message } }),
  };
}

/**
 * The error headers of a GraphQL response, or undefined when it succeeded. The operation failed
 * as a whole when it has errors and no data; partial data is a success with field errors in the
 * body, as over HTTP.
 */
export function graphqlFailure(
  result: { data?: unknown; errors?: readonly GraphQLFormattedError[] },
  httpStatus: number,
): Omit<ErrorReply, 'body'> | undefined {
  const first = result.errors?.[0];
  if (!first || (result.data !== undefined && result.data !== null)) return undefined;
  const code = typeof first.extensions?.code === 'string' ? first.extensions.code : 'GRAPHQL_REQUEST_FAILED';
  const fallback = httpStatus >= 400 ? httpStatus : 500;
  return { code, status: statusOfCode(code, fallback), description: headerSafe(first.message) };
}
