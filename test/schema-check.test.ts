import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runToExit } from './support/run-to-exit.js';

const SCHEMA = new URL('../schema.graphql', import.meta.url);

describe('npm run schema:check', () => {
  let dir: string;
  let original: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pulse-schema-'));
    original = await readFile(SCHEMA, 'utf8');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('passes on an up-to-date copy of schema.graphql', async () => {
    const copy = join(dir, 'current.graphql');
    await copyFile(SCHEMA, copy);
    const result = await runToExit('npm', ['run', '--silent', 'schema:check', '--', copy]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /is up to date/);
  });

  test('exits non-zero on a stale copy, and leaves the real schema.graphql alone', async () => {
    const stale = join(dir, 'stale.graphql');
    await writeFile(stale, original.replace('type Mutation {', 'type Mutation {\n  removedLongAgo: Boolean'));
    const result = await runToExit('npm', ['run', '--silent', 'schema:check', '--', stale]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /stale\.graphql is stale: run `npm run schema`/);
    assert.equal(
      await readFile(stale, 'utf8'),
      original.replace('type Mutation {', 'type Mutation {\n  removedLongAgo: Boolean'),
    );
    assert.equal(await readFile(SCHEMA, 'utf8'), original, 'schema.graphql is untouched');
  });

  test('exits non-zero when the file is missing', async () => {
    const result = await runToExit('npm', ['run', '--silent', 'schema:check', '--', join(dir, 'missing.graphql')]);
    assert.notEqual(result.code, 0);
  });
});
