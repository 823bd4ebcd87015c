import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServer, isListening } from '../../src/nats/index.js';

/** A nats-server of the test's own: free port on loopback, temporary store, stopped by its pid. */
export interface TestNats {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly pid: number | undefined;
  /** SIGTERM (or SIGKILL with hard) and wait for the exit. The store is kept for restart(). */
  stop(options?: { hard?: boolean }): Promise<void>;
  /** Starts again on the same port and store. */
  restart(): Promise<void>;
  /** Stops the server and removes its store. */
  destroy(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startNats(options: { extraArgs?: string[] } = {}): Promise<TestNats> {
  const binary = await findNatsServer();
  if (!binary) throw new Error('nats-server is not installed (apt-get install -y nats-server)');
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'pulse-test-nats-'));
  let child: ChildProcess | undefined;

  async function launch(): Promise<void> {
    const proc = spawn(
      binary as string,
      ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...(options.extraArgs ?? [])],
      {
        stdio: 'ignore',
      },
    );
    child = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    const deadline = Date.now() + 10_000;
    while (!(await isListening('127.0.0.1', port, 200))) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`nats-server did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async function stop(opts: { hard?: boolean } = {}): Promise<void> {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(opts.hard ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return child?.pid;
    },
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    async destroy() {
      await stop({ hard: true });
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
