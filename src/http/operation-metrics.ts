import { type DocumentNode, type GraphQLError, getOperationAST } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Counter } from 'prom-client';

export interface OperationCounters {
  /** Labels: type (query, mutation, subscription, unknown), name. */
  operations: Counter<'type' | 'name'>;
  /** Labels: type, code. */
  errors: Counter<'type' | 'code'>;
}

export interface OperationMetricsOptions {
  /** Distinct operation names counted by name; later ones are counted as "other". Default 100. */
  maxNames?: number;
}

const NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;
const CODE = /^[A-Z][A-Z_]{0,39}$/;

/**
 * Counts GraphQL operations by type and name, and their errors by code, on every transport that
 * runs through Yoga's envelope (HTTP, SSE, WebSocket, the NATS graphql endpoint). Labels stay
 * bounded: names that are not GraphQL names become "invalid", names past the first maxNames
 * "other", and codes that are not code-shaped "OTHER". An operation that fails before it is
 * known (a syntax error, a limit) counts with type and name "unknown".
 */
export function useOperationMetrics(counters: OperationCounters, options: OperationMetricsOptions = {}): Plugin {
  const maxNames = options.maxNames ?? 100;
  const names = new Set<string>();

  const nameLabel = (name: string | null | undefined): string => {
    if (!name) return 'anonymous';
    if (!NAME.test(name)) return 'invalid';
    if (names.has(name)) return name;
    if (names.size >= maxNames) return 'other';
    names.add(name);
    return name;
  };
  // Parse and validation errors get their code from Yoga after these hooks ran: `uncoded` names it.
  const codeOf = (error: GraphQLError | Error, uncoded: string): string => {
    const code = (error as GraphQLError).extensions?.code;
    if (code === undefined) return uncoded;
    return typeof code === 'string' && CODE.test(code) ? code : 'OTHER';
  };
  const count = (
    type: string,
    name: string,
    errors: readonly (GraphQLError | Error)[] | undefined,
    uncoded = 'INTERNAL_SERVER_ERROR',
  ) => {
    counters.operations.inc({ type, name });
    for (const error of errors ?? []) counters.errors.inc({ type, code: codeOf(error, uncoded) });
  };
  const describe = (document: DocumentNode, operationName: string | null | undefined) => {
    const operation = getOperationAST(document, operationName);
    return operation
      ? { type: operation.operation as string, name: nameLabel(operation.name?.value ?? operationName) }
      : { type: 'unknown', name: 'unknown' };
  };

  return {
    onParse:
      () =>
      ({ result }) => {
        if (result instanceof Error) count('unknown', 'unknown', [result], 'GRAPHQL_PARSE_FAILED');
      },
    onValidate:
      ({ params, context }) =>
      ({ valid, result }) => {
        if (valid) return;
        const operationName = (context as { params?: { operationName?: string } }).params?.operationName;
        const { type, name } = describe(params.documentAST, operationName);
        count(type, name, result, 'GRAPHQL_VALIDATION_FAILED');
      },
    onExecute: ({ args }) => ({
      onExecuteDone: ({ result }) => {
        const { type, name } = describe(args.document, args.operationName);
        count(type, name, isAsyncIterable(result) ? undefined : result.errors);
      },
    }),
    onSubscribe: ({ args }) => ({
      onSubscribeResult: ({ result }) => {
        const { type, name } = describe(args.document, args.operationName);
        count(type, name, isAsyncIterable(result) ? undefined : result.errors);
      },
      onSubscribeError: ({ error }) => {
        const { type, name } = describe(args.document, args.operationName);
        count(type, name, [error as Error]);
      },
    }),
  };
}
