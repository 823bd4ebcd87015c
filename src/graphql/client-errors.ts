import type { ExecutionResult } from 'graphql';
import { handleStreamOrSingleExecutionResult, type Plugin } from 'graphql-yoga';
import type { Logger } from '../log/index.js';
import type { PulseContext } from './context.js';
import { toClientError } from './errors.js';

/**
 * Turns the errors of an operation's results into what a client may see (toClientError), with the
 * operation's request id on those it masks, and logs the unexpected ones with it. Yoga's own
 * masking, which runs after this, sees no context: it handles what fails outside an operation.
 */
export function useClientErrors(log: Logger): Plugin<PulseContext> {
  const maskWith =
    (requestId: string) =>
    ({ result, setResult }: { result: ExecutionResult; setResult(result: ExecutionResult): void }) => {
      if (!result.errors?.length) return;
      const report = (unexpected: unknown) => log.error({ err: unexpected, requestId }, 'unexpected error');
      setResult({ ...result, errors: result.errors.map((error) => toClientError(error, requestId, report)) });
    };
  return {
    onExecute({ args }) {
      const mask = maskWith(args.contextValue.requestId);
      return { onExecuteDone: (payload) => handleStreamOrSingleExecutionResult(payload, mask) };
    },
    onSubscribe({ args }) {
      const mask = maskWith(args.contextValue.requestId);
      return { onSubscribeResult: (payload) => handleStreamOrSingleExecutionResult(payload, mask) };
    },
  };
}
