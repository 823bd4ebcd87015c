import { AsyncLocalStorage } from 'node:async_hooks';
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** What is known of the request being served, wherever its work continues. */
export interface RequestScope {
  requestId: string;
}

const scope = new AsyncLocalStorage<RequestScope>();

/** Runs fn with a request scope, so that logs and masked errors carry its request id. */
export function inRequestScope<T>(requestScope: RequestScope, fn: () => T): T {
  return scope.run(requestScope, fn);
}

export function currentRequestId(): string | undefined {
  return scope.getStore()?.requestId;
}

/** Structured JSON logs (pretty in a terminal); each line of a request carries its request id. */
export function createLogger(options: { level: string; pretty: boolean }): Logger {
  return pino({
    level: options.level,
    base: undefined,
    mixin: () => {
      const requestId = currentRequestId();
      return requestId ? { requestId } : {};
    },
    redact: { paths: ['*.pass', '*.token', '*.authorization', '*.apiKey', '*.seed'], censor: '[redacted]' },
    transport: options.pretty ? { target: 'pino-pretty', options: { colorize: true } } : undefined,
  });
}
