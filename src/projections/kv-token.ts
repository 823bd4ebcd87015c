import { createHash } from 'node:crypto';
import { encodeToken } from '../nats/index.js';

// KV keys allow only [-/_=.a-zA-Z0-9]. encodeToken's alphabet is [A-Za-z0-9_-] plus `~XX` escapes;
// writing `~` as `=` keeps the mapping one-to-one (`=` never appears otherwise), so two different
// ids never share a key. Very long ids (a user id of 512 characters could take 6 KiB escaped, and
// the key becomes part of a subject) are replaced by a hash: `==` cannot start an escaped token,
// because `=` is always followed by two hex digits there.
const MAX_TOKEN_LENGTH = 256;

/** One KV-safe key token for any string: never contains `.`, a wildcard or whitespace. */
export function kvToken(text: string): string {
  const token = encodeToken(text).replaceAll('~', '=');
  if (token.length <= MAX_TOKEN_LENGTH) return token;
  return `==${createHash('sha256').update(text).digest('base64url')}`;
}
