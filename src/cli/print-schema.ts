// `npm run schema` writes schema.graphql from the code; `npm run schema:check` fails when it is stale.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { printPulseSchema } from '../graphql/index.js';

const file = fileURLToPath(new URL('../../schema.graphql', import.meta.url));
const printed = printPulseSchema();

if (process.argv.includes('--check')) {
  const committed = await readFile(file, 'utf8').catch(() => '');
  if (committed !== printed) {
    console.error('schema.graphql is stale: run `npm run schema` and commit the result.');
    process.exit(1);
  }
  console.log('schema.graphql is up to date.');
} else {
  await writeFile(file, printed);
  console.log('wrote schema.graphql');
}
