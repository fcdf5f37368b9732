/** A `nucat` CLI command run in the background, so a test can kill it part-way (an interrupted `nucat mirror`). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { APPS_ROOT, REPO_ROOT, type CommandResult, type Stack } from './stack.js';

/** A CLI command running in the background. */
export interface BackgroundCommand {
  readonly pid: number | undefined;
  /** Whether it has exited. */
  exited(): boolean;
  /** Resolves when it exits (never rejects; a spawn failure gives code -1). */
  readonly done: Promise<CommandResult>;
  /** Sends `signal` (SIGKILL unless told otherwise: no shutdown code runs) and resolves once it has exited. */
  kill(signal?: NodeJS.Signals): Promise<CommandResult>;
}

/** Starts `node apps/cli/dist/main.js <args>` with `stack`'s environment, as {@link Stack.cli} does, without waiting. */
export function startCli(stack: Pick<Stack, 'env'>, args: readonly string[]): BackgroundCommand {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('NUCAT_') || key === 'DATABASE_URL' || key === 'REDIS_URL') continue;
    env[key] = value;
  }
  const child = spawn(process.execPath, [join(APPS_ROOT, 'cli', 'dist', 'main.js'), ...args], {
    cwd: REPO_ROOT,
    env: { ...env, ...stack.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let finished = false;
  const done = new Promise<CommandResult>((resolve) => {
    child.once('error', (error) => {
      finished = true;
      resolve({ code: -1, stdout, stderr: `${stderr}\n${error.message}` });
    });
    child.once('close', (code, signal) => {
      finished = true;
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
  return {
    pid: child.pid,
    exited: () => finished,
    done,
    async kill(signal = 'SIGKILL') {
      if (!finished) child.kill(signal);
      return done;
    },
  };
}
