import { GraphQLError } from 'graphql';

/** The error codes of the public contract (API.md) that Pulse's own errors carry. */
const PUBLIC_CODES = new Set([
  'BAD_USER_INPUT',
  'EVENT_BUS_UNAVAILABLE',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'SLOW_SUBSCRIBER',
  'CURSOR_EXPIRED',
  'CONSISTENCY_TIMEOUT',
  'RATE_LIMITED',
  'LIMIT_EXCEEDED',
]);

interface CodedError extends Error {
  code: string;
  invalid?: unknown;
  details?: Record<string, unknown>;
}

function isCoded(error: unknown): error is CodedError {
  return (
    error instanceof Error &&
    typeof (error as CodedError).code === 'string' &&
    PUBLIC_CODES.has((error as CodedError).code)
  );
}

/**
 * What a client sees of an error: Pulse's own errors with their code (and details such as the
 * invalid items of a batch); GraphQL's own errors (syntax, validation) as they are; anything else
 * masked as INTERNAL_SERVER_ERROR with the request id, after `report` logged it.
 */
export function toClientError(
  error: unknown,
  requestId: string | undefined,
  report: (error: unknown) => void,
): GraphQLError {
  const original = error instanceof GraphQLError ? (error.originalError ?? undefined) : error;
  const located = error instanceof GraphQLError ? error : undefined;
  const cause = original instanceof GraphQLError ? (original.originalError ?? original) : original;
  if (isCoded(cause)) {
    return new GraphQLError(cause.message, {
      nodes: located?.nodes,
      path: located?.path,
      extensions: {
        ...cause.details,
        code: cause.code,
        ...(cause.invalid !== undefined ? { invalid: cause.invalid } : {}),
      },
    });
  }
  if (located && (!original || original instanceof GraphQLError)) return located;
  report(error);
  return new GraphQLError('Unexpected error; quote the request id when you report it.', {
    nodes: located?.nodes,
    path: located?.path,
    extensions: { code: 'INTERNAL_SERVER_ERROR', requestId },
  });
}
