import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `pulse project` as a child process, killed by its pid. */
export interface ProjectorProcess {
  readonly child: ChildProcess;
  /** Resolves once it logged that it holds the lease and applies; rejects after 30 s or on exit. */
  readonly active: Promise<void>;
  /** Resolves with the exit code (or signal name). */
  readonly exit: Promise<number | string | null>;
  output(): string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Every projector child still running, for an after() hook to kill. */
export function runningProjectors(): ChildProcess[] {
  return [...running];
}

export function spawnProjector(env: Record<string, string>): ProjectorProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'project'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PULSE_LOG_LEVEL: 'info', PULSE_LOG_PRETTY: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  const exit = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal);
    }),
  );
  const active = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the projector did not become active:\n${output}`)), 30_000);
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('projector active')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`the projector exited before it became active:\n${output}`));
    });
  });
  // A kill before it became active is a normal outcome for callers that do not wait for it.
  active.catch(() => undefined);
  return { child, active, exit, output: () => output };
}
