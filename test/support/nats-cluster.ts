import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { findNatsServer, isListening } from '../../src/nats/index.js';
import { freePort } from './nats-server.js';

/** One node of a test cluster. */
export interface ClusterNode {
  readonly name: string;
  readonly url: string;
  readonly pid: number | undefined;
  isRunning(): boolean;
}

/** A 3-node JetStream cluster on loopback, each node with its own store, stopped by pid. */
export interface TestCluster {
  readonly nodes: readonly ClusterNode[];
  /** All client URLs, comma-separated, as NATS_URL takes them. */
  readonly urls: string;
  /** SIGKILL (hard) or SIGTERM a node and wait for its exit. */
  stop(index: number, options?: { hard?: boolean }): Promise<void>;
  /** Starts a stopped node again on its own port and store. */
  restart(index: number): Promise<void>;
  /** Freezes a node (SIGSTOP): it stays up but answers no one, as if cut off; heal() resumes it. */
  isolate(index: number): void;
  heal(index: number): void;
  /** Waits until JetStream answers through the cluster (a meta leader exists). */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  /** The server name of the current leader of a stream. */
  streamLeader(stream: string): Promise<string | undefined>;
  destroy(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startCluster(size = 3): Promise<TestCluster> {
  const binary = await findNatsServer();
  if (!binary) throw new Error('nats-server is not installed (apt-get install -y nats-server)');
  const clusterName = `pulse-${Math.random().toString(36).slice(2, 8)}`;
  const specs = await Promise.all(
    Array.from({ length: size }, async (_, i) => ({
      name: `n${i + 1}`,
      port: await freePort(),
      clusterPort: await freePort(),
      storeDir: await mkdtemp(join(tmpdir(), `pulse-cluster-n${i + 1}-`)),
    })),
  );
  const children: Array<ChildProcess | undefined> = specs.map(() => undefined);

  async function launch(i: number): Promise<void> {
    const spec = specs[i];
    const routes = specs
      .filter((_, j) => j !== i)
      .map((other) => `nats://127.0.0.1:${other.clusterPort}`)
      .join(',');
    const args = [
      ...['-a', '127.0.0.1', '-p', String(spec.port), '-js', '-sd', spec.storeDir],
      ...['--server_name', spec.name, '--cluster_name', clusterName],
      ...['--cluster', `nats://127.0.0.1:${spec.clusterPort}`, '--routes', routes],
    ];
    const child = spawn(binary as string, args, { stdio: 'ignore' });
    children[i] = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    const deadline = Date.now() + 10_000;
    while (!(await isListening('127.0.0.1', spec.port, 200))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`cluster node ${spec.name} did not start`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async function stop(i: number, options: { hard?: boolean } = {}): Promise<void> {
    const child = children[i];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGCONT');
    child.kill(options.hard ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async function withConnection<T>(fn: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>): Promise<T> {
    const nc = await connect({ servers: specs.map((s) => `nats://127.0.0.1:${s.port}`), timeout: 2000 });
    try {
      return await fn(await jetstreamManager(nc, { timeout: 2000 }));
    } finally {
      await nc.close();
    }
  }

  await Promise.all(specs.map((_, i) => launch(i)));
  const cluster: TestCluster = {
    nodes: specs.map((spec, i) => ({
      name: spec.name,
      url: `nats://127.0.0.1:${spec.port}`,
      get pid() {
        return children[i]?.pid;
      },
      isRunning: () => {
        const child = children[i];
        return Boolean(child && child.exitCode === null && child.signalCode === null);
      },
    })),
    urls: specs.map((s) => `nats://127.0.0.1:${s.port}`).join(','),
    stop,
    restart: async (i) => {
      await stop(i);
      await launch(i);
    },
    isolate: (i) => children[i]?.kill('SIGSTOP'),
    heal: (i) => children[i]?.kill('SIGCONT'),
    async waitForJetStream(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          await withConnection((jsm) => jsm.getAccountInfo());
          return;
        } catch (err) {
          if (Date.now() > deadline)
            throw new Error(`JetStream did not come up in the cluster: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
    streamLeader: (stream) => withConnection(async (jsm) => (await jsm.streams.info(stream)).cluster?.leader),
    async destroy() {
      await Promise.all(specs.map((_, i) => stop(i, { hard: true })));
      for (const spec of specs) await rm(spec.storeDir, { recursive: true, force: true });
    },
  };
  return cluster;
}
