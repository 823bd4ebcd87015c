import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ExitResult {
  /** The exit code, or the signal's name when it was killed. */
  code: number | string | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command in the project root until it exits (killed by its pid after timeoutMs), for
 * commands that are expected to stop by themselves: a start-up refused, a check that fails.
 */
export function runToExit(
  command: string,
  args: string[],
  options: { env?: Record<string, string | undefined>; timeoutMs?: number; cwd?: string } = {},
): Promise<ExitResult> {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      process.off('exit', killOnExit);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

/** `node --import tsx src/main.ts <args>` with the given environment. */
export function runPulseToExit(env: Record<string, string | undefined>, args: string[] = ['serve']) {
  return runToExit(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env });
}
