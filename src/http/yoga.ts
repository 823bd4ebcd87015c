import { useDisableIntrospection } from '@envelop/disable-introspection';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { AccessControl } from '../auth/index.js';
import {
  createRequestContext,
  type DocumentLimits,
  type PulseContext,
  type PulseServices,
  schema,
  toClientError,
  useAccessControl,
  useClientErrors,
  useDocumentLimits,
  useInputErrorCodes,
} from '../graphql/index.js';
import { type Logger, requestIdFrom } from '../log/index.js';
import { useCsrfPrevention } from './csrf.js';
import { type OperationCounters, useOperationMetrics } from './operation-metrics.js';
import type { OriginPolicy } from './origins.js';
import { useRequestRefusals } from './request-refusals.js';

export interface YogaOptions {
  services: PulseServices;
  log: Logger;
  /** Serve GraphiQL (offline: its code is bundled) on a browser's GET /graphql. Default true. */
  graphiql?: boolean;
  /** Largest request body Yoga reads, in bytes. Default Yoga's, 25,000,000. */
  maxRequestBodySize?: number;
  /** More plugins, after Pulse's own (e.g. the live subscriptions' delivery). Default none. */
  plugins?: Plugin<PulseContext>[];
  /** API keys, scopes and per-key limits. Default: open (no keys). */
  access?: AccessControl;
  /** Bounds on documents (tokens, depth, aliases, directives, cost) and field suggestions. Default DEFAULT_DOCUMENT_LIMITS. */
  documentLimits?: Partial<DocumentLimits>;
  /** Answer introspection (`__schema`, `__type`). Default true. */
  introspection?: boolean;
  /** Which browser origins get CORS headers. Default: none (no cross-origin access). */
  origins?: OriginPolicy;
  /** Counters of operations and their errors, for /metrics. Default none. */
  operationCounters?: OperationCounters;
}

export type PulseYoga = YogaServerInstance<Record<string, unknown>, PulseContext>;

export function createPulseYoga(options: YogaOptions): PulseYoga {
  const { services, log } = options;
  return createYoga<Record<string, unknown>, PulseContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    maxRequestBodySize: options.maxRequestBodySize,
    // No operation takes a file: a multipart body is refused (415) rather than parsed.
    multipart: false,
    logging: {
      // Yoga logs several debug lines per request: skip building them unless they are wanted.
      debug: (...args) => log.isLevelEnabled('debug') && log.debug(args.map(String).join(' ')),
      info: (...args) => log.info(args.map(String).join(' ')),
      warn: (...args) => log.warn(args.map(String).join(' ')),
      // Errors clients caused are theirs to read; unexpected ones are logged where they are masked.
      error: (...args) => log.isLevelEnabled('debug') && log.debug(args.map(String).join(' ')),
    },
    graphiql: options.graphiql === false ? false : { title: 'Pulse', subscriptionsProtocol: 'WS' },
    renderGraphiQL,
    // No cross-origin access unless an origin is listed: a function answering false sends no CORS headers.
    cors: (request) => options.origins?.cors(request) ?? false,
    plugins: [
      useCsrfPrevention(),
      // Before the access check, so that its refusals are counted too.
      ...(options.operationCounters ? [useOperationMetrics(options.operationCounters)] : []),
      useDocumentLimits(options.documentLimits),
      ...(options.introspection === false ? [useDisableIntrospection()] : []),
      useInputErrorCodes(),
      useRequestRefusals(),
      ...(options.access ? [useAccessControl(options.access)] : []),
      ...(options.plugins ?? []),
      useClientErrors(log),
    ],
    // The HTTP server and the WebSocket endpoint give each operation its id; pulse.graphql sends
    // it as X-Request-Id.
    context: ({ requestId, request }) =>
      createRequestContext(
        services,
        typeof requestId === 'string' ? requestId : requestIdFrom(request.headers.get('x-request-id')),
      ),
    maskedErrors: {
      // What fails outside an operation (useClientErrors handles what fails inside one).
      maskError: (error) =>
        toClientError(error, undefined, (unexpected) => log.error({ err: unexpected }, 'unexpected error')),
    },
  });
}
