import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import {
  createRequestContext,
  type PulseContext,
  type PulseServices,
  schema,
  toClientError,
  useInputErrorCodes,
} from '../graphql/index.js';
import { currentRequestId, type Logger } from '../log/index.js';

export interface YogaOptions {
  services: PulseServices;
  log: Logger;
  /** Serve GraphiQL (offline: its code is bundled) on a browser's GET /graphql. Default true. */
  graphiql?: boolean;
}

export type PulseYoga = YogaServerInstance<Record<string, unknown>, PulseContext>;

export function createPulseYoga(options: YogaOptions): PulseYoga {
  const { services, log } = options;
  return createYoga<Record<string, unknown>, PulseContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: {
      debug: (...args) => log.debug(args.map(String).join(' ')),
      info: (...args) => log.info(args.map(String).join(' ')),
      warn: (...args) => log.warn(args.map(String).join(' ')),
      // Errors clients caused are theirs to read; unexpected ones are logged where they are masked.
      error: (...args) => log.debug(args.map(String).join(' ')),
    },
    graphiql: options.graphiql === false ? false : { title: 'Pulse', subscriptionsProtocol: 'WS' },
    renderGraphiQL,
    plugins: [useInputErrorCodes()],
    context: () => createRequestContext(services, currentRequestId() ?? 'unknown'),
    maskedErrors: {
      maskError: (error) =>
        toClientError(error, currentRequestId(), (unexpected) => log.error({ err: unexpected }, 'unexpected error')),
    },
  });
}
