import { createHash } from 'node:crypto';
import { encodeToken } from '../nats/index.js';

// KV keys allow only [-/_=.a-zA-Z0-9]. encodeToken's alphabet is [A-Za-z0-9_-] plus `~XX` escapes;
// writing `~` as `=` keeps the mapping one-to-one (`=` never appears otherwise), so two different
// ids never share a key. Very long ids (a user id of 512 characters could take 6 KiB escaped, and
// the key becomes part of a subject) are replaced by a hash: `==` cannot start an escaped token,
// because `=` is always followed by two hex digits there.
const MAX_TOKEN_LENGTH = 256;

// The projector asks for the same few tokens (types, active users) for every event of a batch.
const MAX_REMEMBERED = 10_000;
const remembered = new Map<string, string>();

/** One KV-safe key token for any string: never contains `.`, a wildcard or whitespace. */
export function kvToken(text: string): string {
  let token = remembered.get(text);
  if (token !== undefined) return token;
  token = encodeToken(text).replaceAll('~', '=');
  if (token.length > MAX_TOKEN_LENGTH) token = `==${createHash('sha256').update(text).digest('base64url')}`;
  if (remembered.size >= MAX_REMEMBERED) remembered.clear();
  remembered.set(text, token);
  return token;
}
