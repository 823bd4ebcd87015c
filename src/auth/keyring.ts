import { readFile, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { findKey, type KeyEntry, parseKeyFile, parseKeyList } from './keys.js';
import type { Principal } from './scopes.js';

export interface KeyringOptions {
  /** The PULSE_API_KEYS value. */
  keys?: string;
  /** The PULSE_API_KEYS_FILE path; re-read when it changes. */
  file?: string;
  log: Logger;
  /** How often to look at the file for changes, in ms. Default 1000. */
  pollMs?: number;
}

/** The configured API keys, reloaded when their file changes (or reload() on SIGHUP). */
export interface Keyring {
  /** True when no keys are configured: Pulse is open. */
  isOpen(): boolean;
  /** The principal of a presented key, or undefined when it is not configured. */
  find(presented: string): Principal | undefined;
  /** Whether a key id is still configured (connections of removed keys are closed). */
  has(keyId: string): boolean;
  /** The current principal of a key id (its scopes as the last reload left them), if still configured. */
  principalOf(keyId: string): Principal | undefined;
  /** Re-reads the file now. Keeps the previous keys when the file has an error. */
  reload(): Promise<void>;
  /** Calls listener with the ids of keys that disappeared in a reload. */
  onRemoved(listener: (keyIds: ReadonlySet<string>) => void): () => void;
  close(): void;
}

/** Reads the keys once (throwing a KeyConfigError on a bad entry) and starts watching the file. */
export async function createKeyring(options: KeyringOptions): Promise<Keyring> {
  const { log } = options;
  const fromEnv = options.keys ? parseKeyList(options.keys, 'PULSE_API_KEYS') : [];
  let fromFile: KeyEntry[] = [];
  let fileVersion = '';
  const listeners = new Set<(keyIds: ReadonlySet<string>) => void>();
  let entries: KeyEntry[] = [];
  let ids = new Map<string, Principal>();

  function install(next: KeyEntry[]): void {
    const nextIds = new Map(next.map((e) => [e.principal.keyId, e.principal]));
    const removed = new Set([...ids.keys()].filter((id) => !nextIds.has(id)));
    entries = next;
    ids = nextIds;
    if (removed.size > 0) for (const listener of listeners) listener(removed);
  }

  async function readKeyFile(strict: boolean): Promise<void> {
    if (!options.file) return;
    try {
      const info = await stat(options.file);
      const version = `${info.mtimeMs}:${info.size}:${info.ino}`;
      if (version === fileVersion && !strict) return;
      const text = await readFile(options.file, 'utf8');
      fromFile = parseKeyFile(text, options.file);
      fileVersion = version;
      install([...fromEnv, ...fromFile]);
      if (!strict) log.info({ keys: entries.length }, 'API keys reloaded');
    } catch (err) {
      if (strict) throw err;
      log.error({ err: (err as Error).message }, 'API keys file not reloaded; keeping the previous keys');
    }
  }

  await readKeyFile(true);
  install([...fromEnv, ...fromFile]);
  const timer = options.file ? setInterval(() => void readKeyFile(false), options.pollMs ?? 1000) : undefined;
  timer?.unref();
  const configured = Boolean(options.keys || options.file);

  return {
    isOpen: () => !configured,
    find: (presented) => findKey(entries, presented),
    has: (keyId) => ids.has(keyId),
    principalOf: (keyId) => ids.get(keyId),
    reload: () => readKeyFile(false),
    onRemoved(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      if (timer) clearInterval(timer);
      listeners.clear();
    },
  };
}
