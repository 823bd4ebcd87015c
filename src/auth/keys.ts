import crypto from 'node:crypto';
import { KeyConfigError } from './errors.js';
import { type Principal, SCOPES, type Scope } from './scopes.js';

/** A configured key, held only as the SHA-256 of the key so plain keys never stay in memory. */
export interface KeyEntry {
  hash: Buffer;
  principal: Principal;
}

export function sha256(text: string): Buffer {
  return crypto.createHash('sha256').update(text).digest();
}

function keyIdOf(hash: Buffer): string {
  return hash.toString('hex').slice(0, 12);
}

/**
 * Reads `key=scope[+scope…]` entries. The key may be written as `sha256:<64 hex digits>`.
 * `where` names the source for error messages, e.g. "PULSE_API_KEYS" or "keys.txt line 3".
 */
export function parseKeyEntry(text: string, where: string): KeyEntry {
  const at = text.lastIndexOf('=');
  // The message never quotes the entry: its text is a key.
  if (at <= 0) throw new KeyConfigError(`${where}: expected key=scope[+scope]`);
  const key = text.slice(0, at).trim();
  const scopes = text
    .slice(at + 1)
    .split('+')
    .map((s) => s.trim());
  for (const scope of scopes) {
    if (!SCOPES.includes(scope as Scope)) {
      throw new KeyConfigError(`${where}: unknown scope "${scope}" (use ${SCOPES.join(', ')})`);
    }
  }
  let hash: Buffer;
  if (key.startsWith('sha256:')) {
    const hex = key.slice('sha256:'.length);
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new KeyConfigError(`${where}: sha256: needs 64 hex digits`);
    hash = Buffer.from(hex, 'hex');
  } else {
    if (key.length < 8) throw new KeyConfigError(`${where}: a key must be at least 8 characters`);
    if (/\s/.test(key)) throw new KeyConfigError(`${where}: a key must not contain whitespace`);
    hash = sha256(key);
  }
  return { hash, principal: { keyId: keyIdOf(hash), scopes: new Set(scopes as Scope[]) } };
}

/** Entries of PULSE_API_KEYS: comma-separated. */
export function parseKeyList(text: string, where: string): KeyEntry[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part, i) => parseKeyEntry(part, `${where} entry ${i + 1}`));
}

/** Entries of a keys file: one per line; `#` starts a comment. */
export function parseKeyFile(text: string, where: string): KeyEntry[] {
  const entries: KeyEntry[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const content = line.replace(/#.*$/, '').trim();
    if (content) entries.push(parseKeyEntry(content, `${where} line ${i + 1}`));
  });
  return entries;
}

/**
 * Finds the entry for a presented key. The key is hashed and compared with every entry by
 * timingSafeEqual, without stopping at a match, so the time taken says nothing about the keys.
 */
export function findKey(entries: readonly KeyEntry[], presented: string): Principal | undefined {
  const hash = sha256(presented);
  let found: Principal | undefined;
  for (const entry of entries) {
    if (crypto.timingSafeEqual(entry.hash, hash) && !found) found = entry.principal;
  }
  return found;
}
