import { GraphQLError, Lexer, Source, TokenKind } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Bounds on the shape of a GraphQL document, checked before it is parsed. */
export interface DocumentLimits {
  /** Deepest nesting of selections, values and list types (each `{`, `[` or `(` opens a level). Default 128. */
  maxDepth?: number;
  /** Most fragment definitions in one document. Default 256. */
  maxFragments?: number;
}

const OPENING = new Set<string>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const CLOSING = new Set<string>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

/** What is wrong with the document's shape, or undefined when it is within the limits. */
function shapeProblem(source: string, maxDepth: number, maxFragments: number): string | undefined {
  // Most documents hold too few brackets and fragments to break a limit: no second lexing pass.
  let openings = 0;
  for (let i = 0; i < source.length; i++) {
    const char = source.charCodeAt(i);
    if (char === 0x7b || char === 0x5b || char === 0x28) openings++;
  }
  if (openings <= maxDepth && !source.includes('fragment')) return undefined;
  const lexer = new Lexer(new Source(source));
  let depth = 0;
  let fragments = 0;
  try {
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
      if (OPENING.has(token.kind)) {
        if (++depth > maxDepth) return `the document is nested more than ${maxDepth} levels deep`;
      } else if (CLOSING.has(token.kind)) depth--;
      else if (depth === 0 && token.kind === TokenKind.NAME && token.value === 'fragment') {
        if (++fragments > maxFragments) return `the document defines more than ${maxFragments} fragments`;
      }
    }
  } catch {
    // A syntax error: the parser reports it, at a depth already checked.
  }
  return undefined;
}

/**
 * Refuses documents nested or chained beyond what any real operation needs, before graphql-js
 * parses them: its parser and validation recurse once per level (or per fragment spread), so a
 * few thousand levels overflow the stack, which would reach the client as an internal error.
 */
export function useDocumentLimits(limits: DocumentLimits = {}): Plugin {
  const maxDepth = limits.maxDepth ?? 128;
  const maxFragments = limits.maxFragments ?? 256;
  return {
    onParse({ params }) {
      const source = typeof params.source === 'string' ? params.source : params.source.body;
      const problem = shapeProblem(source, maxDepth, maxFragments);
      if (problem) {
        throw new GraphQLError(`Syntax Error: ${problem}; parsing aborted.`, {
          extensions: { code: 'GRAPHQL_PARSE_FAILED', http: { status: 400 } },
        });
      }
    },
  };
}
