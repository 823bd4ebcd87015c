import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

// Yoga refuses a few kinds of request with no body at all (415 for a content type it does not
// read, 406 for an Accept it cannot answer) and lets JSON.parse's SyntaxError of a GET's or a
// form's `variables`/`extensions` escape as an unexpected error; its own JSON parser puts the
// exception's name and a piece of the body in the error. The contract answers every failure
// with a GraphQL error and a code, no internals; these are the client's mistakes: BAD_REQUEST.

const EMPTY_REFUSALS: Record<number, string> = {
  406: 'Not Acceptable: accept application/graphql-response+json, application/json, or text/event-stream for subscriptions',
  415: 'Unsupported Media Type: send application/json, application/graphql, or a GET with query parameters',
};

/** Gives Yoga's bodiless refusals and unparsable query parameters a GraphQL error body with a code. */
export function useRequestRefusals(): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (!requestParser) return;
      setRequestParser(async (request) => {
        try {
          return await requestParser(request);
        } catch (error) {
          if (error instanceof SyntaxError) {
            throw new GraphQLError('the "variables" or "extensions" parameter is not valid JSON', {
              extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
            });
          }
          // Yoga's JSON parser names the exception and quotes the body in `originalError`.
          if (error instanceof GraphQLError && error.extensions.originalError !== undefined) {
            const { originalError: _internal, ...extensions } = error.extensions;
            throw new GraphQLError(error.message, { extensions });
          }
          throw error;
        }
      });
    },
    onResponse({ response, setResponse, fetchAPI }) {
      const message = EMPTY_REFUSALS[response.status];
      if (!message || response.headers.get('content-type')) return;
      const headers = new fetchAPI.Headers(response.headers);
      headers.set('content-type', 'application/json; charset=utf-8');
      setResponse(
        new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] }), {
          status: response.status,
          headers,
        }),
      );
    },
  };
}
