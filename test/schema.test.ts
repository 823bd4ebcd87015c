import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { printPulseSchema } from '../src/graphql/index.js';

test('schema.graphql matches the schema the code builds (run `npm run schema` when this fails)', async () => {
  const committed = await readFile(new URL('../schema.graphql', import.meta.url), 'utf8');
  assert.equal(committed, printPulseSchema());
});
