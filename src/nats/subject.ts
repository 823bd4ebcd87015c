// The one place that builds event subjects. A subject is exactly `<prefix>.<type token>`; the token is the
// event type with every byte outside [A-Za-z0-9_-] written as `~XX` (upper-case hex of its UTF-8
// bytes). So whatever a user sends, it stays one token: it can never add a `.`, a wildcard (`*`, `>`)
// or whitespace to a subject, and two different types never share a token.

const SAFE_BYTE = /^[A-Za-z0-9_-]$/;
const PLAIN_TOKEN = /^[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();
// ignoreBOM: a type may begin with U+FEFF, and a decoder that drops it would name another type.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Encodes any string as one safe subject token (never empty: the empty string becomes `~`). */
export function encodeToken(text: string): string {
  if (text === '') return '~';
  if (PLAIN_TOKEN.test(text)) return text;
  let token = '';
  for (const char of text) {
    if (SAFE_BYTE.test(char)) {
      token += char;
    } else {
      for (const byte of encoder.encode(char)) token += `~${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return token;
}

/** Reverses encodeToken; returns undefined for a token it could not have produced. */
export function decodeToken(token: string): string | undefined {
  if (token === '~') return '';
  // Most types need no escapes: such a token is the type itself.
  if (PLAIN_TOKEN.test(token)) return token;
  if (!/^(?:[A-Za-z0-9_-]|~[0-9A-F]{2})+$/.test(token)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '~') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  try {
    const text = decoder.decode(new Uint8Array(bytes));
    return encodeToken(text) === token ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Subjects of one event stream, under its prefix. */
export interface EventSubjects {
  readonly prefix: string;
  /** The subject an event of this type is published on. */
  forType(type: string): string;
  /** One filter subject per type, or the subject of every event when no type is given. */
  filters(types?: readonly string[]): string[];
  /** Every subject the stream captures. */
  readonly all: string;
  /** The event type a subject names, or undefined when the subject is not an event subject. */
  typeOf(subject: string): string | undefined;
}

export function eventSubjects(prefix: string): EventSubjects {
  const all = `${prefix}.>`;
  const forType = (type: string) => `${prefix}.${encodeToken(type)}`;
  return {
    prefix,
    all,
    forType,
    filters: (types) => (types && types.length > 0 ? [...new Set(types)].map(forType) : [all]),
    typeOf(subject) {
      if (!subject.startsWith(`${prefix}.`)) return undefined;
      const token = subject.slice(prefix.length + 1);
      return token.includes('.') ? undefined : decodeToken(token);
    },
  };
}
