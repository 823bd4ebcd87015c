import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import type { Logger } from 'pino';

/** Whether something accepts TCP connections on host:port within timeoutMs. */
export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((done) => {
    const socket = tcpConnect({ host, port });
    const finish = (answer: boolean) => {
      socket.destroy();
      done(answer);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** Looks for the nats-server binary on PATH and in the sbin folders Debian installs it to. */
export async function findNatsServer(path = process.env.PATH ?? ''): Promise<string | undefined> {
  const folders = [...path.split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];
  for (const folder of folders) {
    const candidate = join(folder, 'nats-server');
    try {
      await access(candidate);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

export class NatsServerMissing extends Error {
  constructor() {
    super(
      'No NATS server answers on 127.0.0.1:4222 and no nats-server binary was found on PATH. ' +
        'Install one (Debian/Ubuntu: `apt-get install nats-server`; or run the official image: ' +
        '`docker run -p 4222:4222 nats -js`), or set NATS_URL to a server with JetStream enabled.',
    );
    this.name = 'NatsServerMissing';
  }
}

/** A nats-server that Pulse started for itself, stopped when Pulse stops. */
export interface LocalNatsServer {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts `nats-server -js` on 127.0.0.1:port with its store under dataDir, and waits until it
 * accepts connections.
 */
export async function startLocalNatsServer(dataDir: string, log: Logger, port = 4222): Promise<LocalNatsServer> {
  const binary = await findNatsServer();
  if (!binary) throw new NatsServerMissing();
  const storeDir = resolve(dataDir, 'nats');
  await mkdir(storeDir, { recursive: true });
  const child: ChildProcess = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));

  const startedBy = Date.now() + 10_000;
  while (!(await isListening('127.0.0.1', port, 200))) {
    if (child.exitCode !== null || Date.now() > startedBy) {
      child.kill('SIGKILL');
      throw new Error(`nats-server did not start on 127.0.0.1:${port}: ${stderr.trim().split('\n').pop() ?? ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  log.info(
    { binary, storeDir, port },
    'started a local nats-server (no NATS_URL set and none answered on 127.0.0.1:4222)',
  );
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
