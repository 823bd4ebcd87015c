// `npm run bench`: every section measures Pulse next to a baseline in the same run and prints the
// ratios. `npm run bench -- ingest live` runs only the named sections. With PULSE_BENCH_CPU_PROF set to
// a directory, the Pulse processes measured write their CPU profiles there.
import type { BenchSection, Row } from './types.js';

const sections: Record<string, () => Promise<{ run: BenchSection }>> = {
  ingest: () => import('./ingest.js'),
  projections: () => import('./projections.js'),
  live: () => import('./live.js'),
  service: () => import('./service.js'),
  security: () => import('./security.js'),
};

function table(rows: Row[]): string {
  const head = ['benchmark', 'value', 'baseline', 'ratio', 'target', 'ok'];
  const lines = rows.map((r) => [
    r.name,
    `${r.value.toFixed(r.value < 100 ? 2 : 0)} ${r.unit}`,
    `${r.baselineValue.toFixed(r.baselineValue < 100 ? 2 : 0)} ${r.unit} (${r.baseline})`,
    r.ratio.toFixed(2),
    r.target,
    r.pass ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const rows: Row[] = [];
for (const [name, load] of Object.entries(sections)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.error(`running ${name}…`);
  const { run } = await load();
  const sectionRows = await run();
  rows.push(...sectionRows);
  console.error(table(sectionRows));
}
console.log(table(rows));
for (const row of rows) if (row.notes) console.log(`- ${row.name}: ${row.notes}`);
