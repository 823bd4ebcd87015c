// `npm run schema` writes schema.graphql from the code; `npm run schema:check` fails when it is stale.
// Either takes another file as its argument (`npm run schema:check -- other.graphql`).
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printPulseSchema } from '../graphql/index.js';

const args = process.argv.slice(2);
const named = args.find((arg) => !arg.startsWith('--'));
const file = named ? resolve(named) : fileURLToPath(new URL('../../schema.graphql', import.meta.url));
const printed = printPulseSchema();

if (args.includes('--check')) {
  const committed = await readFile(file, 'utf8').catch(() => '');
  if (committed !== printed) {
    console.error(`${file} is stale: run \`npm run schema\` and commit the result.`);
    process.exit(1);
  }
  console.log(`${file} is up to date.`);
} else {
  await writeFile(file, printed);
  console.log(`wrote ${file}`);
}
