import { type ExecutionResult, getOperationAST, parse } from 'graphql';
import { type ErrorReply, graphqlFailure, statusOfCode } from './errors.js';

/**
 * Executes one GraphQL-over-HTTP request: the Yoga instance's `fetch`, so that every plugin and
 * limit HTTP has (auth, error masking, input codes, whatever comes later) applies to NATS too.
 */
export type GraphQLFetch = (
  url: string,
  init: RequestInit & { body: Uint8Array<ArrayBuffer> },
) => Promise<Response> | Response;

interface YogaFetch {
  fetch(input: Request | string, init?: RequestInit): Promise<Response> | Response;
  fetchAPI: { Request: typeof Request };
}

/**
 * A GraphQLFetch over a Yoga instance. A body that is a JSON object within the size limit goes in
 * parsed, as @whatwg-node/server passes the parsed body of a Node request: a request with no body
 * stream whose json() answers the object. Yoga then reads no stream and has nothing to measure;
 * a body stream costs about a tenth of a pulse.graphql call (a transform stream, a pipe, abort
 * signals). Any other body goes in as it is, and Yoga answers it as it answers it over HTTP. The
 * Request is Yoga's own, not the runtime's, whose body Yoga would read through a web stream.
 */
export function graphqlFetchOf(yoga: YogaFetch, maxBodyBytes: number): GraphQLFetch {
  return (url, init) => {
    const json = parsedParams(init.body, maxBodyBytes);
    if (json === undefined) return yoga.fetch(url, init);
    const request = new yoga.fetchAPI.Request(url, { method: init.method, headers: init.headers });
    Object.defineProperties(request, {
      json: { value: () => Promise.resolve(json) },
      text: { value: () => Promise.resolve(JSON.stringify(json)) },
    });
    return yoga.fetch(request);
  };
}

/** The body as a non-empty JSON object within the limit; else undefined. */
function parsedParams(body: Uint8Array, maxBodyBytes: number): Record<string, unknown> | undefined {
  if (body.byteLength > maxBodyBytes) return undefined;
  try {
    const params: unknown = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    const isObject = params !== null && typeof params === 'object' && !Array.isArray(params);
    return isObject && Object.keys(params).length > 0 ? (params as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** What pulse.graphql answers: the GraphQL response as JSON, and the error headers when it failed. */
export interface GraphQLReply {
  body: string;
  failure?: Omit<ErrorReply, 'body'>;
}

// Requests never leave the process; the URL only has to reach Yoga's endpoint.
const ENDPOINT = 'http://pulse.nats/graphql';

const SUBSCRIPTION_REFUSED =
  'subscriptions are not served over NATS request-reply: subscribe over SSE or WebSocket at /graphql, ' +
  "or consume the event stream's subjects with a NATS client";

/**
 * Whether the request asks for a subscription, which a single reply cannot carry. Checked before
 * GraphQL sees it: executing one would open a live feed only to drop it. Only a body that
 * mentions the word is parsed, so queries and mutations pay a byte search.
 */
function isSubscription(data: Uint8Array): boolean {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!bytes.includes('subscription')) return false;
  try {
    const params = JSON.parse(bytes.toString('utf8')) as { query?: unknown; operationName?: unknown } | null;
    if (typeof params?.query !== 'string') return false;
    const operationName = typeof params.operationName === 'string' ? params.operationName : undefined;
    return getOperationAST(parse(params.query), operationName)?.operation === 'subscription';
  } catch {
    // Not JSON or not GraphQL: GraphQL answers that with its own error.
    return false;
  }
}

/**
 * Runs a pulse.graphql request (`{ query, variables, operationName }` as JSON) through `fetch` as
 * a POST to /graphql, carrying the request's Authorization and request id as HTTP headers.
 */
export async function executeGraphQL(
  fetchGraphQL: GraphQLFetch,
  data: Uint8Array,
  headers: { authorization?: string; requestId: string },
): Promise<GraphQLReply> {
  if (isSubscription(data)) {
    return {
      body: JSON.stringify({
        errors: [{ message: SUBSCRIPTION_REFUSED, extensions: { code: 'OPERATION_NOT_SUPPORTED' } }],
      }),
      failure: {
        code: 'OPERATION_NOT_SUPPORTED',
        status: statusOfCode('OPERATION_NOT_SUPPORTED'),
        description: SUBSCRIPTION_REFUSED,
      },
    };
  }
  const httpHeaders: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
    'x-request-id': headers.requestId,
  };
  if (headers.authorization !== undefined) httpHeaders.authorization = headers.authorization;
  // A message's data is a view on a plain ArrayBuffer, never a shared one.
  const body = data as Uint8Array<ArrayBuffer>;
  const response = await fetchGraphQL(ENDPOINT, { method: 'POST', headers: httpHeaders, body });
  const text = await response.text();
  let result: ExecutionResult;
  try {
    result = JSON.parse(text) as ExecutionResult;
  } catch {
    // Not a GraphQL response (Yoga answers every request it handles with one); say so plainly.
    const message = `GraphQL answered ${response.status} without a JSON body`;
    return {
      body: JSON.stringify({ errors: [{ message, extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }),
      failure: { code: 'INTERNAL_SERVER_ERROR', status: 500, description: message },
    };
  }
  return { body: text, failure: graphqlFailure(result, response.status) };
}
