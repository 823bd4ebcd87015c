import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type PulseApp, startPulse } from '../../src/app.js';
import { loadSettings } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { freePort } from './nats-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Settings for a test: a fresh stream name, a free port, quiet logs. Overrides are env variables. */
export function testEnv(natsUrl: string, overrides: Record<string, string> = {}): Record<string, string> {
  const unique = Math.random().toString(36).slice(2, 8);
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    NATS_URL: natsUrl,
    PULSE_STREAM: `TEST_${unique}`,
    PULSE_SUBJECT_PREFIX: `ev${unique}`,
    PULSE_LOG_LEVEL: process.env.PULSE_TEST_LOG_LEVEL ?? 'silent',
    PULSE_LOG_PRETTY: 'off',
    ...overrides,
  };
}

/** Pulse in this process, as `npm start` wires it. */
export async function startTestPulse(env: Record<string, string>): Promise<PulseApp & { env: Record<string, string> }> {
  const settings = loadSettings(env);
  const app = await startPulse(settings, createLogger(settings.log));
  return { ...app, env };
}

/** Pulse as its own process (`tsx src/main.ts serve`), for signals and kills. */
export interface PulseProcess {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
  /** Sends the signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
}

/** Node flags that write a CPU profile into PULSE_BENCH_CPU_PROF (a directory) when it is set. */
export function cpuProfileFlags(): string[] {
  const dir = process.env.PULSE_BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

export async function spawnPulse(env: Record<string, string>): Promise<PulseProcess> {
  const port = env.PORT && env.PORT !== '0' ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, [...cpuProfileFlags(), '--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exit = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  process.once('exit', () => child.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pulse exited at start:\n${output}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pulse did not become ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
}
