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

// Every media type Yoga can answer in (its result processors). It picks one only after the
// operation ran, so a mutation with an Accept it cannot meet would be stored and then answered 406:
// such a request is refused before anything executes.
const ANSWERABLE = ['application/graphql-response+json', 'application/json', 'text/event-stream', 'multipart/mixed'];

/** Whether Yoga can answer this request in a media type it accepts (Yoga's own reading of Accept). */
function isAnswerable(request: Request): boolean {
  const ranges = (request.headers.get('accept') || '*/*').replace(/\s/g, '').toLowerCase().split(',');
  return ranges.some((range) => {
    const [mediaType, ...params] = range.split(';');
    // Yoga answers in UTF-8 only, and skips a range that asks for another charset.
    if ((params.find((param) => param.includes('charset=')) ?? 'charset=utf-8') !== 'charset=utf-8') return false;
    const [type, subtype] = mediaType.split('/');
    return ANSWERABLE.some((answerable) => {
      const [ownType, ownSubtype] = answerable.split('/');
      return (type === '*' || type === ownType) && (subtype === '*' || subtype === ownSubtype);
    });
  });
}

function refusal(
  fetchAPI: { Response: typeof Response; Headers: typeof Headers },
  status: number,
  init: ResponseInit = {},
): Response {
  const headers = new fetchAPI.Headers(init.headers);
  headers.set('content-type', 'application/json; charset=utf-8');
  const body = JSON.stringify({ errors: [{ message: EMPTY_REFUSALS[status], extensions: { code: 'BAD_REQUEST' } }] });
  return new fetchAPI.Response(body, { status, headers });
}

/** Gives Yoga's bodiless refusals and unparsable query parameters a GraphQL error body with a code. */
export function useRequestRefusals(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, endResponse, fetchAPI }) {
      if (!isAnswerable(request)) return endResponse(refusal(fetchAPI, 406));
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
      if (!EMPTY_REFUSALS[response.status] || response.headers.get('content-type')) return;
      setResponse(refusal(fetchAPI, response.status, { headers: response.headers }));
    },
  };
}
