/** Vitest wiring for a test file that drives one nucat stack. */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { removeDotnetScratch } from './dotnet.js';
import { startStack, type Stack, type StartStackOptions } from './stack.js';

/**
 * Starts a stack in `beforeAll` and stops it in `afterAll` (also removing the dotnet scratch folders);
 * when a test fails, prints the apps' recent output.
 * @returns a getter for the running stack (throws if it did not start).
 */
export function useStack(options: StartStackOptions = {}): () => Stack {
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await startStack(options);
  });
  afterAll(async () => {
    try {
      await stack?.stop();
    } finally {
      await removeDotnetScratch();
    }
  });
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      if (stack) console.error(`\n----- nucat stack output (most recent lines) -----\n${stack.logs()}\n`);
    });
  });
  return () => {
    if (!stack) throw new Error('the nucat stack is not running (see the beforeAll error above)');
    return stack;
  };
}

/**
 * Runs `fn` (typically a file's own `beforeAll` work that talks to the stack) and, if it throws, rethrows with
 * the stack's recent output appended, since no test has failed yet to print it.
 */
export async function withStackLogs<T>(stack: () => Stack, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    let logs = '(stack not running)';
    try {
      logs = stack().logs();
    } catch {
      // The stack never started; its own error says why.
    }
    throw new Error(`${message}\n----- nucat stack output (most recent lines) -----\n${logs}`, { cause: error });
  }
}
