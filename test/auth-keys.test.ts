import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  createKeyring,
  createTokenBucket,
  findKey,
  hasScope,
  KeyConfigError,
  parseKeyFile,
  parseKeyList,
  sha256,
} from '../src/auth/index.js';

const log = pino({ level: 'silent' });

describe('API key entries', () => {
  test('env entries give each key its scopes; admin implies the others', () => {
    const entries = parseKeyList(
      'ingest-key-1=ingest, read-key-22=read,admin-key-333=admin,both-key-4=ingest+read',
      'PULSE_API_KEYS',
    );
    assert.equal(entries.length, 4);
    const ingest = findKey(entries, 'ingest-key-1');
    assert.ok(ingest);
    assert.equal(hasScope(ingest, 'ingest'), true);
    assert.equal(hasScope(ingest, 'read'), false);
    const admin = findKey(entries, 'admin-key-333');
    assert.ok(admin && hasScope(admin, 'read') && hasScope(admin, 'ingest') && hasScope(admin, 'admin'));
    const both = findKey(entries, 'both-key-4');
    assert.ok(both && hasScope(both, 'read') && hasScope(both, 'ingest') && !hasScope(both, 'admin'));
    assert.equal(findKey(entries, 'unknown-key'), undefined);
    assert.equal(findKey(entries, ''), undefined);
  });

  test('a file holds one entry per line, comments, and sha256: hashes instead of keys', () => {
    const hash = sha256('hashed-secret-key').toString('hex');
    const entries = parseKeyFile(`# team keys\nplain-key-one=read  # dashboard\n\nsha256:${hash}=ingest\n`, 'keys.txt');
    assert.equal(entries.length, 2);
    assert.ok(findKey(entries, 'hashed-secret-key'));
    assert.equal(findKey(entries, `sha256:${hash}`), undefined, 'the hash itself is not a key');
  });

  test('bad entries are refused with the place they came from, never the key', () => {
    assert.throws(
      () => parseKeyList('secret-key-1=write', 'PULSE_API_KEYS'),
      (err: Error) => {
        assert.ok(err instanceof KeyConfigError);
        assert.match(err.message, /PULSE_API_KEYS entry 1: unknown scope "write"/);
        assert.doesNotMatch(err.message, /secret-key-1/);
        return true;
      },
    );
    assert.throws(() => parseKeyList('noscope', 'PULSE_API_KEYS'), KeyConfigError);
    assert.throws(() => parseKeyFile('sha256:abc=read', 'k.txt'), /k.txt line 1: sha256: needs 64 hex digits/);
    assert.throws(() => parseKeyList('short=read', 'PULSE_API_KEYS'), /at least 8 characters/);
  });

  test('every lookup compares against every key in constant time, whichever key matches', (t) => {
    const entries = parseKeyList('first-key-1=read,second-key-2=read,third-key-3=read', 'PULSE_API_KEYS');
    const calls: number[] = [];
    const original = crypto.timingSafeEqual;
    t.mock.method(crypto, 'timingSafeEqual', (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls.push(1);
      return original(a, b);
    });
    for (const presented of ['first-key-1', 'third-key-3', 'no-such-key']) {
      calls.length = 0;
      findKey(entries, presented);
      assert.equal(calls.length, 3, `${presented}: one timingSafeEqual per configured key, no early exit`);
    }
  });

  test('key ids name a key without revealing it', () => {
    const [entry] = parseKeyList('my-secret-key=read', 'PULSE_API_KEYS');
    assert.match(entry.principal.keyId, /^[0-9a-f]{12}$/);
    assert.equal(entry.principal.keyId, sha256('my-secret-key').toString('hex').slice(0, 12));
  });
});

describe('keyring', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('is open with no keys configured', async () => {
    const ring = await createKeyring({ log });
    assert.equal(ring.isOpen(), true);
    ring.close();
  });

  test('re-reads its file when it changes and reports removed keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pulse-keys-'));
    dirs.push(dir);
    const file = join(dir, 'keys');
    await writeFile(file, 'first-key-111=read\nsecond-key-22=ingest\n');
    const ring = await createKeyring({ file, log, pollMs: 50 });
    try {
      assert.equal(ring.isOpen(), false);
      const first = ring.find('first-key-111');
      assert.ok(first);
      const removed = new Promise<ReadonlySet<string>>((resolve) => ring.onRemoved(resolve));
      await writeFile(file, 'second-key-22=ingest\nthird-key-333=admin\n');
      const ids = await Promise.race([
        removed,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no reload within 3 s')), 3000)),
      ]);
      assert.deepEqual([...ids], [first.keyId]);
      assert.equal(ring.find('first-key-111'), undefined);
      assert.ok(ring.find('third-key-333'));
      assert.equal(ring.has(first.keyId), false);

      // A broken file keeps the keys that were there.
      await writeFile(file, 'broken');
      await ring.reload();
      assert.ok(ring.find('third-key-333'));
    } finally {
      ring.close();
    }
  });
});

describe('token bucket', () => {
  test('allows the burst, then asks to wait for the refill', () => {
    const bucket = createTokenBucket({ ratePerSec: 10, burst: 5 });
    for (let i = 0; i < 5; i++) assert.equal(bucket.take('k'), 0);
    const wait = bucket.take('k');
    assert.ok(wait > 0 && wait <= 100, `wait ${wait} ms for one token at 10/s`);
    assert.equal(bucket.take('other'), 0, 'keys have their own buckets');
  });

  test('a request bigger than the burst passes on a full bucket and leaves it in debt', () => {
    const bucket = createTokenBucket({ ratePerSec: 100, burst: 10 });
    assert.equal(bucket.take('k', 50), 0);
    const wait = bucket.take('k', 1);
    assert.ok(wait >= 390, `debt of 40 tokens plus one at 100/s needs ~410 ms, got ${wait}`);
  });

  test('forgets the longest-idle key past its bound', () => {
    const bucket = createTokenBucket({ ratePerSec: 1, burst: 1, maxKeys: 2 });
    assert.equal(bucket.take('a'), 0);
    assert.equal(bucket.take('b'), 0);
    assert.equal(bucket.take('c'), 0);
    assert.equal(bucket.take('a'), 0, '"a" was forgotten, so it starts full again');
    assert.ok(bucket.take('c') > 0, '"c" is still tracked');
  });
});
