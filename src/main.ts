import './production-mode.js';
import { startPulse } from './app.js';
import { KeyConfigError } from './auth/index.js';
import { projectCommand, rebuildCommand } from './cli/read-model-commands.js';
import { loadSettings, SettingsError } from './config/index.js';
import { createLogger } from './log/index.js';
import { NatsServerMissing, StreamConflict } from './nats/index.js';

const USAGE = `usage: pulse [serve] [--port N] [--host H] [--nats-url URL] [--<setting> value]...
  serve   run the API (default)
  project run the projector alone (it keeps the read models; npm run project)
  rebuild replay the stream into new read models and switch queries to them (npm run rebuild)`;

async function main(argv: string[]): Promise<void> {
  const [command, ...flags] = argv[0] && !argv[0].startsWith('--') ? argv : ['serve', ...argv];
  if (command === 'help' || flags.includes('--help')) {
    console.log(USAGE);
    return;
  }
  let settings: ReturnType<typeof loadSettings>;
  try {
    settings = loadSettings(process.env, flags);
  } catch (err) {
    if (err instanceof SettingsError) {
      console.error(`pulse: bad setting: ${err.message.split('\n').join('; ')}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(settings.log);

  if (command === 'project') return projectCommand(settings, log);
  if (command === 'rebuild') return rebuildCommand(settings, log);
  if (command !== 'serve') {
    console.error(`pulse: unknown command "${command}"\n${USAGE}`);
    process.exit(2);
  }

  let app: Awaited<ReturnType<typeof startPulse>>;
  try {
    app = await startPulse(settings, log);
  } catch (err) {
    if (err instanceof KeyConfigError) {
      console.error(`pulse: bad setting: ${err.message}`);
      process.exit(2);
    }
    if (err instanceof NatsServerMissing || err instanceof StreamConflict) {
      console.error(`pulse: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // SIGHUP re-reads the API keys file at once (it is also re-read when it changes).
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading the API keys');
    void app.reloadKeys();
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error('pulse: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
