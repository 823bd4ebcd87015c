// `pulse project` (npm run project): the projector as a process of its own, so that API processes
// and projectors scale apart. `pulse rebuild` (npm run rebuild): replay the stream into fresh
// read models and switch queries to them.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Settings } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { connectNats, eventSubjects, type NatsLink, provisionEventStream } from '../nats/index.js';
import { type ProjectionsOptions, RebuildInProgress, runRebuild, startProjectorService } from '../projections/index.js';

async function connect(
  settings: Settings,
  log: Logger,
  name: string,
): Promise<{ link: NatsLink; options: ProjectionsOptions }> {
  // A projector never starts a NATS server of its own: it works on the one the API processes use.
  const servers = settings.nats.servers ?? ['nats://127.0.0.1:4222'];
  const link = await connectNats({ ...settings.nats, servers, name }, log);
  const jsm = await jetstreamManager(link.nc, { timeout: 5000 });
  const subjects = eventSubjects(settings.stream.subjectPrefix);
  await provisionEventStream(jsm, { ...settings.stream, subject: subjects.all }, log);
  const options = {
    js: jetstream(link.nc),
    jsm,
    stream: settings.stream,
    subjects,
    settings: settings.projections,
    log,
  };
  return { link, options };
}

/** Runs the projector until SIGTERM or SIGINT; exits 0 once it let go of its lease. */
export async function projectCommand(settings: Settings, log: Logger): Promise<void> {
  const { link, options } = await connect(settings, log, 'pulse-projector');
  const projector = await startProjectorService(options);
  log.info('projector started; it applies events while it holds the lease and stands by otherwise');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping the projector');
    // With NATS gone, letting go of the lease cannot finish; the lease then simply runs out.
    setTimeout(() => {
      log.warn('the projector did not stop in time; exiting anyway');
      process.exit(1);
    }, settings.http.shutdownGraceMs).unref();
    projector
      .stop()
      .then(() => link.drain())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'the projector did not stop cleanly');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Rebuilds the read models; exits 0 when queries read the new generation and the old one is gone. */
export async function rebuildCommand(settings: Settings, log: Logger): Promise<void> {
  const { link, options } = await connect(settings, log, 'pulse-rebuild');
  let lastReport = 0;
  try {
    const result = await runRebuild({
      ...options,
      onProgress(progress) {
        if (Date.now() - lastReport < 2000) return;
        lastReport = Date.now();
        log.info(progress, 'rebuilding');
      },
    });
    log.info(result, 'rebuild done');
  } catch (err) {
    if (err instanceof RebuildInProgress) {
      console.error(`pulse: ${err.message}`);
      await link.drain();
      process.exit(1);
    }
    throw err;
  }
  await link.drain();
}
