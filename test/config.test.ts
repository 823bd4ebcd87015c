import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadSettings, SettingsError } from '../src/config/index.js';
import { runToExit } from './support/run-to-exit.js';

/** The message of the SettingsError that loadSettings throws for env (and argv). */
function settingsProblem(env: Record<string, string>, argv: string[] = []): string {
  try {
    loadSettings(env, argv);
  } catch (err) {
    assert.ok(err instanceof SettingsError, `a SettingsError, got ${err}`);
    return err.message;
  }
  assert.fail(`${JSON.stringify(env)} ${argv.join(' ')} was accepted`);
}

describe('configuration', () => {
  test('the defaults are those the README lists', () => {
    const s = loadSettings({});
    assert.deepEqual(s.http, {
      port: 4000,
      host: '127.0.0.1',
      graphiql: true,
      shutdownGraceMs: 10_000,
      maxBodyBytes: undefined,
      corsOrigins: [],
    });
    assert.equal(s.nats.servers, undefined);
    assert.deepEqual(s.stream, {
      name: 'EVENTS',
      subjectPrefix: 'events',
      maxAgeMs: 30 * 86_400_000,
      maxBytes: -1,
      replicas: 1,
      duplicateWindowMs: 120_000,
      discard: 'old',
    });
    assert.deepEqual(s.ingest, { deadlineMs: 5000, attemptTimeoutMs: 2000, concurrency: 1024 });
    assert.deepEqual(s.limits, {
      maxBatch: 1000,
      maxPropertiesBytes: 32 * 1024,
      maxTypeLength: 128,
      maxFutureMs: 86_400_000,
    });
  });

  test('values are parsed with their units', () => {
    const s = loadSettings({
      PORT: '8080',
      NATS_URL: 'nats://a:14222, nats://b:14222',
      PULSE_STREAM_MAX_AGE: '12h',
      PULSE_STREAM_MAX_BYTES: '10GiB',
      PULSE_PUBLISH_DEADLINE: '1500ms',
      PULSE_DUPLICATE_WINDOW: '5m',
      PULSE_MAX_PROPERTIES_BYTES: '64KiB',
      PULSE_MAX_FUTURE: '2d',
    });
    assert.equal(s.http.port, 8080);
    assert.deepEqual(s.nats.servers, ['nats://a:14222', 'nats://b:14222']);
    assert.equal(s.stream.maxAgeMs, 12 * 3_600_000);
    assert.equal(s.stream.maxBytes, 10 * 1024 ** 3);
    assert.equal(s.ingest.deadlineMs, 1500);
    assert.equal(s.stream.duplicateWindowMs, 300_000);
    assert.equal(s.limits.maxPropertiesBytes, 65_536);
    assert.equal(s.limits.maxFutureMs, 2 * 86_400_000);
  });

  test('a flag overrides its variable', () => {
    const s = loadSettings({ PORT: '1', PULSE_STREAM: 'A' }, [
      '--port',
      '4001',
      '--stream=B',
      '--nats-url',
      'nats://x:1',
    ]);
    assert.equal(s.http.port, 4001);
    assert.equal(s.stream.name, 'B');
    assert.deepEqual(s.nats.servers, ['nats://x:1']);
    assert.match(settingsProblem({}, ['--no-such-thing', '1']), /unknown flag --no-such-thing/);
    assert.match(settingsProblem({}, ['--port']), /flag --port needs a value/);
  });

  test('every bad value is refused with its variable named', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ PORT: 'abc' }, /^PORT: "abc" is not an integer/],
      [{ PORT: '70000' }, /^PORT: /],
      [{ PULSE_STREAM_MAX_AGE: 'soon' }, /^PULSE_STREAM_MAX_AGE: "soon" is not a duration/],
      [{ PULSE_STREAM: 'a.b' }, /^PULSE_STREAM: /],
      [{ PULSE_SUBJECT_PREFIX: 'ev*' }, /^PULSE_SUBJECT_PREFIX: /],
      [{ PULSE_SUBJECT_PREFIX: 'a b' }, /^PULSE_SUBJECT_PREFIX: /],
      [{ NATS_URL: 'http://example.com' }, /^NATS_URL: "http:\/\/example.com" is not a NATS URL/],
      [{ PULSE_STREAM_MAX_BYTES: 'big' }, /^PULSE_STREAM_MAX_BYTES: "big" is not a size/],
      [{ PULSE_STREAM_REPLICAS: '7' }, /^PULSE_STREAM_REPLICAS: /],
      [{ PULSE_MAX_BATCH: '0' }, /^PULSE_MAX_BATCH: /],
      [{ PULSE_MAX_PROPERTIES_BYTES: '32 kilobytes' }, /^PULSE_MAX_PROPERTIES_BYTES: /],
      [{ PULSE_MAX_TYPE_LENGTH: '257' }, /^PULSE_MAX_TYPE_LENGTH: "257" is not an integer from 1 to 256/],
      [{ PULSE_PUBLISH_DEADLINE: 'five seconds' }, /^PULSE_PUBLISH_DEADLINE: /],
      [{ PULSE_GRAPHIQL: 'maybe' }, /^PULSE_GRAPHIQL: /],
      [{ PULSE_LOG_LEVEL: 'loud' }, /^PULSE_LOG_LEVEL: /],
      [
        { PULSE_PUBLISH_DEADLINE: '3m', PULSE_DUPLICATE_WINDOW: '2m' },
        /^PULSE_DUPLICATE_WINDOW: must be longer than PULSE_PUBLISH_DEADLINE/,
      ],
    ];
    for (const [env, problem] of cases) assert.match(settingsProblem(env), problem, JSON.stringify(env));
  });

  test('several bad values are all reported, each naming its variable', () => {
    const message = settingsProblem({ PORT: 'abc', PULSE_STREAM_MAX_AGE: 'soon', PULSE_MAX_BATCH: '-1' });
    const lines = message.split('\n');
    assert.equal(lines.length, 3);
    assert.deepEqual(
      lines.map((line) => line.split(':')[0]),
      ['PORT', 'PULSE_STREAM_MAX_AGE', 'PULSE_MAX_BATCH'],
    );
  });

  /** Runs `npm start` with env; returns its exit code and the lines it wrote besides npm's own. */
  async function npmStart(env: Record<string, string>) {
    // NATS_URL unset: a start-up that got past the settings would look for NATS; it must not get there.
    const result = await runToExit('npm', ['start'], { env: { ...env, NATS_URL: undefined }, timeoutMs: 30_000 });
    const ownLines = (text: string) =>
      text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('>') && !line.startsWith('npm '));
    return { code: result.code, stdout: ownLines(result.stdout), stderr: ownLines(result.stderr) };
  }

  test('`npm start` with PORT=abc exits non-zero with one line naming PORT', async () => {
    const { code, stdout, stderr } = await npmStart({ PORT: 'abc' });
    assert.notEqual(code, 0);
    assert.deepEqual(stdout, []);
    assert.equal(stderr.length, 1, stderr.join('\n'));
    assert.match(stderr[0], /^pulse: bad setting: PORT: "abc" is not an integer from 0 to 65535$/);
  });

  test('`npm start` with PULSE_STREAM_MAX_AGE=soon (and PULSE_MAX_BATCH=lots) exits non-zero with one line', async () => {
    const { code, stdout, stderr } = await npmStart({ PULSE_STREAM_MAX_AGE: 'soon', PULSE_MAX_BATCH: 'lots' });
    assert.notEqual(code, 0);
    assert.deepEqual(stdout, []);
    assert.equal(stderr.length, 1, stderr.join('\n'));
    assert.match(stderr[0], /^pulse: bad setting: PULSE_STREAM_MAX_AGE: "soon" is not a duration/);
    assert.match(stderr[0], /PULSE_MAX_BATCH: "lots" is not an integer/);
  });
});
