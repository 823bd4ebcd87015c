// `npm run demo`: simulated shop traffic against a running Pulse, until Ctrl-C.
import { parseArgs } from 'node:util';
import { startGenerator } from '../demo/index.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:4000' },
    rate: { type: 'string', default: '20' },
    duration: { type: 'string' },
    key: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`usage: npm run demo -- [--url http://127.0.0.1:4000] [--rate 20] [--duration 60] [--key KEY]
  --rate      events per second (default 20)
  --duration  seconds to run (default: until Ctrl-C)
  --key       an API key with the ingest scope (or PULSE_DEMO_KEY)`);
  process.exit(0);
}

const rate = Number(values.rate);
if (!Number.isFinite(rate) || rate <= 0 || rate > 100_000) {
  console.error('demo: --rate must be a number of events per second from 1 to 100000');
  process.exit(2);
}
const duration = values.duration === undefined ? undefined : Number(values.duration) * 1000;
const url = values.url.replace(/\/+$/, '');
const line = (text: string) => process.stderr.write(process.stderr.isTTY ? `\r\x1b[2K${text}` : `${text}\n`);

console.error(`demo: sending ~${rate} events/s to ${url}/graphql; Ctrl-C stops`);
const generator = startGenerator({
  url,
  rate,
  durationMs: duration,
  // The demo is a client of Pulse, not part of it: its key comes from its own variable.
  apiKey: values.key ?? process.env.PULSE_DEMO_KEY,
  onProgress: (s) =>
    line(
      `demo: ${s.sent} events sent (${(s.sent / (s.elapsedMs / 1000)).toFixed(1)}/s) · ${s.visitors} visitors · ` +
        `${s.failed} failed${s.lastError ? ` (last: ${s.lastError})` : ''}`,
    ),
});

const finish = async () => {
  const s = await generator.stop();
  process.stderr.write('\n');
  console.error(`demo: stopped after ${(s.elapsedMs / 1000).toFixed(1)} s: ${s.sent} events sent, ${s.failed} failed`);
  process.exit(s.failed > 0 && s.sent === 0 ? 1 : 0);
};
process.once('SIGINT', finish);
process.once('SIGTERM', finish);
void generator.done.then(finish);
