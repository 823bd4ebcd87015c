import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** The header a request that a browser would send without a CORS preflight must carry. */
export const CSRF_HEADER = 'x-graphql-yoga-csrf';

/**
 * Yoga's CSRF prevention: a request a browser sends without asking first (a GET, or a POST of a
 * form or plain text) must carry the CSRF header, which a page of another site cannot add without
 * a CORS preflight. JSON POSTs (GraphiQL, the dashboard) are preflighted and pass.
 *
 * One exception: a GET that asks for `text/event-stream`. An EventSource cannot send headers, and
 * it must be able to (re)open a subscription with Last-Event-ID. Such a request has no side
 * effect (Yoga never runs a mutation from a GET), and Pulse authenticates with keys in the
 * Authorization header, never with cookies, so a page of another site gains nothing by it.
 */
export function useCsrfPrevention(): Plugin {
  const prevention = useCSRFPrevention({ requestHeaders: [CSRF_HEADER] });
  const check = prevention.onRequestParse;
  return {
    onRequestParse(payload) {
      const { request } = payload;
      if (request.method === 'GET' && (request.headers.get('accept') ?? '').includes('text/event-stream')) return;
      try {
        return check?.(payload);
      } catch {
        // The plugin's error has a status but no code; every error Pulse answers has one.
        throw new GraphQLError(
          `a ${request.method} request must carry the "${CSRF_HEADER}" header (or be a JSON POST): CSRF prevention`,
          { extensions: { code: 'BAD_REQUEST', http: { status: 403 } } },
        );
      }
    },
  };
}
