import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationContext } from 'graphql';
import { isAsyncIterable, type Plugin, type YogaInitialContext } from 'graphql-yoga';

/** Bounds on a GraphQL document, each with its default; a refused document gets LIMIT_EXCEEDED. */
export interface DocumentLimits {
  /** Most lexical tokens in a document, counted while it is parsed. Default 2000. */
  maxTokens: number;
  /** Deepest selection nesting (introspection's `__schema` not counted). Default 10. */
  maxDepth: number;
  /** Most aliases in an operation. Default 15. */
  maxAliases: number;
  /** Most directives in an operation. Default 50. */
  maxDirectives: number;
  /** Highest cost: 1 per scalar, 2 per object, ×1.5 per level, × `last` on a list. Default 5000. */
  maxCost: number;
  /** Whether error messages suggest field and value names ("Did you mean …?"). Default true. */
  fieldSuggestions: boolean;
}

export const DEFAULT_DOCUMENT_LIMITS: DocumentLimits = {
  maxTokens: 2000,
  maxDepth: 10,
  maxAliases: 15,
  maxDirectives: 50,
  maxCost: 5000,
  fieldSuggestions: true,
};

/** The setting that moves each bound, named in every LIMIT_EXCEEDED error. */
const SETTINGS = {
  maxTokens: 'PULSE_MAX_TOKENS',
  maxDepth: 'PULSE_MAX_DEPTH',
  maxAliases: 'PULSE_MAX_ALIASES',
  maxDirectives: 'PULSE_MAX_DIRECTIVES',
  maxCost: 'PULSE_MAX_COST',
} as const;

type Bound = keyof typeof SETTINGS;

function limitError(bound: Bound, max: number, message: string): GraphQLError {
  // graphql-armor words every refusal as a syntax error; it is a bound the document went over.
  const text = message.replace(/^Syntax Error:\s*/, '');
  return new GraphQLError(`the document exceeds a limit: ${text}`, {
    extensions: { code: 'LIMIT_EXCEEDED', limit: bound, max, setting: SETTINGS[bound], http: { status: 400 } },
  });
}

// graphql-js suggests names in validation errors (which armor masks) and in variable coercion
// errors, which come at execution and which armor does not see.
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

function withoutSuggestions<E extends Error>(error: E): E | GraphQLError {
  if (!(error instanceof GraphQLError) || !SUGGESTION.test(error.message)) return error;
  SUGGESTION.lastIndex = 0;
  return new GraphQLError(error.message.replace(SUGGESTION, ''), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/**
 * Bounds every document before it runs, with graphql-armor: the token count while parsing (so a
 * huge or deeply nested document is dropped before graphql-js builds and recurses into it), then
 * depth, aliases, directives and cost during validation. Every refusal is LIMIT_EXCEEDED naming
 * the bound and its setting. With `fieldSuggestions` off, no message suggests a name.
 */
export function useDocumentLimits(given: Partial<DocumentLimits> = {}): Plugin {
  const limits: DocumentLimits = { ...DEFAULT_DOCUMENT_LIMITS, ...given };
  const report =
    (bound: Bound, max: number) =>
    (context: ValidationContext | null, error: GraphQLError): void => {
      const coded = limitError(bound, max, error.message);
      // Parsing has no validation context: the parser stops when this throws.
      if (!context) throw coded;
      context.reportError(coded);
    };
  const bound = (name: Bound) => ({ n: limits[name], onReject: [report(name, limits[name])] });
  const armor: Plugin = EnvelopArmorPlugin<YogaInitialContext>({
    maxTokens: bound('maxTokens'),
    maxDepth: { ...bound('maxDepth'), propagateOnRejection: false },
    maxAliases: { ...bound('maxAliases'), propagateOnRejection: false },
    maxDirectives: { ...bound('maxDirectives'), propagateOnRejection: false },
    costLimit: { maxCost: limits.maxCost, onReject: [report('maxCost', limits.maxCost)], propagateOnRejection: false },
    blockFieldSuggestion: { enabled: !limits.fieldSuggestions, mask: '' },
  });
  if (limits.fieldSuggestions) return armor;
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(armor);
      addPlugin({
        onValidate:
          () =>
          ({ valid, result, setResult }) => {
            if (!valid) setResult(result.map((error) => withoutSuggestions(error) as GraphQLError));
          },
        onExecute: () => ({
          onExecuteDone: ({ result, setResult }) => {
            if (!isAsyncIterable(result) && result.errors?.length)
              setResult({ ...result, errors: result.errors.map(withoutSuggestions) });
          },
        }),
        onSubscribe: () => ({
          onSubscribeResult: ({ result, setResult }) => {
            if (!isAsyncIterable(result) && result.errors?.length)
              setResult({ ...result, errors: result.errors.map(withoutSuggestions) });
          },
        }),
      });
    },
  };
}
