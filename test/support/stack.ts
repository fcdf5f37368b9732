/**
 * Starts a whole nucat (read-api, publish-api, worker) from the built apps, against a throwaway database,
 * Redis prefix and data folder, for black-box end-to-end tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, createTestRedisPrefix, freePort, waitFor } from '@nucat/testing';
import { timestampMs } from './feed.js';

/** Repository root (this file is test/support/stack.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Folder holding `<app>/dist/main.js` for each app: the repository's `apps/`, unless NUCAT_E2E_APPS_ROOT points
 * elsewhere (another checkout's build).
 */
export const APPS_ROOT = process.env['NUCAT_E2E_APPS_ROOT'] || join(REPO_ROOT, 'apps');

/** The long-running apps a stack spawns. */
export const STACK_APPS = ['read-api', 'publish-api', 'worker'] as const;
export type StackApp = (typeof STACK_APPS)[number];

/** Projections whose cursors {@link Stack.waitForProjection} waits for when none are named. */
export const RESTORE_PROJECTIONS = ['flatcontainer', 'registration'] as const;

/** Output of a finished command. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running nucat, as seen from outside. */
export interface Stack {
  /** `{publicUrl}/v3/index.json`, the URL a client is configured with. */
  readonly serviceIndexUrl: string;
  /** read-api base URL (NUCAT_PUBLIC_URL), no trailing slash. */
  readonly publicUrl: string;
  /** publish-api base URL (NUCAT_PUBLISH_URL), no trailing slash. */
  readonly publishUrl: string;
  /** The worker's operations server (`/metrics`, `/health`, `/ready`; NUCAT_WORKER_PORT), no trailing slash. */
  readonly workerUrl: string;
  /** Plain API key created with `nucat keys create --name e2e`. */
  readonly apiKey: string;
  /** Environment given to every app and CLI command. */
  readonly env: Readonly<Record<string, string>>;
  /** NUCAT_DATA_DIR (blobs live in `<dataDir>/blobs`). */
  readonly dataDir: string;
  /**
   * Resolves when every named projection's cursor in `{publicUrl}/v3/cursors.json` is at or past
   * `commitTimestamp`.
   * @defaultValue projections {@link RESTORE_PROJECTIONS}; timeoutMs 60000
   */
  waitForProjection(commitTimestamp: string, projections?: readonly string[], timeoutMs?: number): Promise<void>;
  /** Runs `node apps/cli/dist/main.js <args>` with the stack's environment (never throws on exit code). */
  cli(args: readonly string[]): Promise<CommandResult>;
  /** Stops the apps (SIGTERM, SIGKILL after 5 s), drops the database, deletes the Redis keys and the data folder. */
  stop(): Promise<void>;
  /** The last lines each app and CLI command printed, for failure messages. */
  logs(): string;
  /**
   * Kills the running copy of `app` (`SIGKILL` unless told otherwise: a crash, no shutdown code runs) and
   * resolves once it has exited. Until {@link Stack.restart}, {@link Stack.waitForProjection} fails at once.
   */
  kill(app: StackApp, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts `app` again with the same environment (stopping it first, SIGTERM, if it still runs); resolves when
   * it is ready: `/health` answers 200 for the APIs, the worker has logged "worker started".
   */
  restart(app: StackApp): Promise<void>;
  /**
   * Starts one more copy of `app` next to the stack's own (two workers on the same queues, say), ready as for
   * {@link Stack.restart}. Its exit does not fail the stack; {@link Stack.stop} stops it. `options.env` is
   * applied over the stack's environment for this copy only: an API copy given its own `NUCAT_PUBLISH_PORT` /
   * `NUCAT_READ_PORT` listens there (and is waited for there); `NODE_OPTIONS` can preload a module.
   */
  startCopy(app: StackApp, options?: { env?: Record<string, string> }): Promise<AppCopy>;
}

/** An extra copy of an app, from {@link Stack.startCopy}. */
export interface AppCopy {
  readonly pid: number | undefined;
  /** Base URL of an API copy (its own port when given one, else the stack's); undefined for a worker. */
  readonly url: string | undefined;
  /** Kills it (`SIGKILL` unless told otherwise) and resolves once it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Options of {@link startStack}. */
export interface StartStackOptions {
  /** Extra variables for the apps, applied last (they override the stack's own). */
  env?: Record<string, string>;
  /** How long each app may take to answer `GET /health`. @defaultValue 60000 */
  startTimeoutMs?: number;
}

const LOG_LINES_KEPT = 300;
const STOP_GRACE_MS = 5_000;

/** Keeps the last lines written to a stream, so a failing test can show what an app said. */
class LogTail {
  private readonly lines: string[] = [];
  private partial = '';

  write(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.push(line);
  }

  text(): string {
    return [...this.lines, ...(this.partial ? [this.partial] : [])].join('\n');
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > LOG_LINES_KEPT) this.lines.splice(0, this.lines.length - LOG_LINES_KEPT);
  }
}

interface RunningApp {
  name: string;
  child: ChildProcess;
  tail: LogTail;
  exited: Promise<void>;
}

/**
 * Starts a stack: fresh database, Redis prefix, data folder and ports; runs `nucat migrate` and
 * `nucat keys create --name e2e`; spawns read-api, publish-api and worker; waits for both APIs' `/health`.
 * Requires the apps to be built (`npm run build`). On failure everything started is torn down and the
 * error carries the apps' output.
 */
export async function startStack(options: StartStackOptions = {}): Promise<Stack> {
  for (const app of ['cli', ...STACK_APPS]) {
    const main = appMain(app);
    if (!existsSync(main)) {
      throw new Error(`nucat app not built: ${main} is missing. Run \`npm run build\` in ${REPO_ROOT} first.`);
    }
  }

  const logs: { name: string; tail: LogTail; status: () => string }[] = [];
  const apps: RunningApp[] = [];
  const copies: RunningApp[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let stopped = false;

  const renderLogs = (): string =>
    logs.map((l) => `===== ${l.name} (${l.status()}) =====\n${l.tail.text() || '(no output)'}`).join('\n');

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all([...apps, ...copies].map((app) => stopApp(app)));
    const errors: unknown[] = [];
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'stack cleanup failed');
  };

  try {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const redis = createTestRedisPrefix();
    cleanups.push(() => redis.cleanup());
    const dataDir = await mkdtemp(join(tmpdir(), 'nucat-e2e-data-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

    const readPort = await freePort();
    let publishPort = await freePort();
    while (publishPort === readPort) publishPort = await freePort();
    let workerPort = await freePort();
    while (workerPort === readPort || workerPort === publishPort) workerPort = await freePort();
    const publicUrl = `http://127.0.0.1:${readPort}`;
    const publishUrl = `http://127.0.0.1:${publishPort}`;

    const env: Record<string, string> = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      NUCAT_REDIS_PREFIX: redis.prefix,
      NUCAT_DATA_DIR: dataDir,
      NUCAT_PUBLIC_URL: publicUrl,
      NUCAT_PUBLISH_URL: publishUrl,
      NUCAT_READ_PORT: String(readPort),
      NUCAT_PUBLISH_PORT: String(publishPort),
      // Copies of the worker (startCopy) find it taken and run without an ops server.
      NUCAT_WORKER_PORT: String(workerPort),
      NUCAT_HOST: '127.0.0.1',
      NUCAT_LOG_LEVEL: 'info',
      ...options.env,
    };
    const processEnv = childEnv(env);

    const cli = async (args: readonly string[]): Promise<CommandResult> => {
      const tail = new LogTail();
      const result = await runNode(appMain('cli'), args, processEnv, tail);
      logs.push({ name: `cli ${args.join(' ')}`, tail, status: () => `exit ${result.code}` });
      return result;
    };

    const migrate = await cli(['migrate']);
    if (migrate.code !== 0) throw new Error(`\`nucat migrate\` failed with exit code ${migrate.code}`);
    const keys = await cli(['keys', 'create', '--name', 'e2e']);
    if (keys.code !== 0) throw new Error(`\`nucat keys create --name e2e\` failed with exit code ${keys.code}`);
    const apiKey = lastNonEmptyLine(keys.stdout);
    if (!apiKey) throw new Error('`nucat keys create --name e2e` printed no API key on stdout');

    const launch = (name: StackApp, label: string, extraEnv: Record<string, string> = {}): RunningApp => {
      const app = spawnApp(name, { ...processEnv, ...extraEnv });
      logs.push({
        name: label,
        tail: app.tail,
        status: () =>
          app.child.exitCode !== null || app.child.signalCode !== null
            ? `exited ${app.child.exitCode ?? app.child.signalCode}`
            : `pid ${app.child.pid}, running`,
      });
      return app;
    };
    for (const name of STACK_APPS) apps.push(launch(name, name));

    const startTimeoutMs = options.startTimeoutMs ?? 60_000;
    // Any app exiting (the worker included) fails the start at once.
    await failIfAnyExits(apps, (stillWaiting) =>
      Promise.all([
        waitForHealth(publicUrl, apps[0]!, startTimeoutMs, stillWaiting),
        waitForHealth(publishUrl, apps[1]!, startTimeoutMs, stillWaiting),
      ]),
    );

    const serviceIndexUrl = `${publicUrl}/v3/index.json`;
    const baseUrlOf = (name: StackApp, extraEnv: Record<string, string> = {}): string | undefined => {
      const port = name === 'read-api' ? extraEnv['NUCAT_READ_PORT'] : name === 'publish-api' ? extraEnv['NUCAT_PUBLISH_PORT'] : undefined;
      if (port !== undefined) return `http://127.0.0.1:${port}`;
      return name === 'read-api' ? publicUrl : name === 'publish-api' ? publishUrl : undefined;
    };
    const slotOf = (name: StackApp): number => STACK_APPS.indexOf(name);
    let launches = 0;
    /** Spawns `name`, hands it to `register` at once (so stop() stops it even if it never gets ready), waits until ready. */
    const launchReady = async (name: StackApp, register: (app: RunningApp) => void, extraEnv: Record<string, string> = {}): Promise<RunningApp> => {
      if (stopped) throw new Error(`the stack is stopped; cannot start ${name}`);
      const app = launch(name, `${name} (start #${++launches})`, extraEnv);
      register(app);
      await failIfAnyExits([app], (stillWaiting) => waitForReady(app, baseUrlOf(name, extraEnv), startTimeoutMs, stillWaiting));
      return app;
    };
    return {
      serviceIndexUrl,
      publicUrl,
      publishUrl,
      workerUrl: `http://127.0.0.1:${env['NUCAT_WORKER_PORT']}`,
      apiKey,
      env,
      dataDir,
      waitForProjection: (commitTimestamp, projections = RESTORE_PROJECTIONS, timeoutMs = 60_000) =>
        waitForCursors(publicUrl, commitTimestamp, projections, timeoutMs, apps),
      cli,
      stop,
      logs: renderLogs,
      async kill(name, signal = 'SIGKILL') {
        await killApp(apps[slotOf(name)]!, signal);
      },
      async restart(name) {
        const slot = slotOf(name);
        await stopApp(apps[slot]!);
        await launchReady(name, (app) => {
          apps[slot] = app;
        });
      },
      async startCopy(name, copyOptions = {}) {
        const extraEnv = copyOptions.env ?? {};
        const app = await launchReady(name, (started) => copies.push(started), extraEnv);
        return { pid: app.child.pid, url: baseUrlOf(name, extraEnv), kill: (signal = 'SIGKILL') => killApp(app, signal) };
      },
    };
  } catch (error) {
    const output = renderLogs();
    await stop().catch(() => {});
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`could not start the nucat stack: ${message}\n${output}`, { cause: error });
  }
}

function appMain(app: string): string {
  return join(APPS_ROOT, app, 'dist', 'main.js');
}

/** The parent's environment without any nucat settings of its own, plus the stack's. */
function childEnv(env: Record<string, string>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('NUCAT_') || key === 'DATABASE_URL' || key === 'REDIS_URL') continue;
    result[key] = value;
  }
  return { ...result, ...env };
}

function spawnApp(name: StackApp, env: Record<string, string>): RunningApp {
  const tail = new LogTail();
  // PGAPPNAME names the app's PostgreSQL sessions (pg_stat_activity.application_name), so a test can tell them apart.
  const child = spawn(process.execPath, [appMain(name)], {
    cwd: REPO_ROOT,
    env: { PGAPPNAME: `nucat-${name}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => tail.write(chunk));
  child.stderr!.on('data', (chunk: Buffer) => tail.write(chunk));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      tail.write(`[spawn error] ${error.message}\n`);
      resolve();
    });
  });
  return { name, child, tail, exited };
}

async function stopApp(app: RunningApp): Promise<void> {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return;
  app.child.kill('SIGTERM');
  const graceful = await Promise.race([app.exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
  if (!graceful) {
    app.tail.write(`[e2e] ${app.name} did not exit ${STOP_GRACE_MS} ms after SIGTERM; sending SIGKILL\n`);
    app.child.kill('SIGKILL');
    await app.exited;
  }
}

async function killApp(app: RunningApp, signal: NodeJS.Signals): Promise<void> {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return;
  app.child.kill(signal);
  await app.exited;
}

/** Resolves when a freshly spawned app is ready: `/health` 200 for an API, "worker started" logged by a worker. */
async function waitForReady(
  app: RunningApp,
  baseUrl: string | undefined,
  timeoutMs: number,
  stillWaiting: () => boolean,
): Promise<void> {
  if (baseUrl !== undefined) {
    await waitForHealth(baseUrl, app, timeoutMs, stillWaiting);
    return;
  }
  await waitFor(() => !stillWaiting() || app.tail.text().includes('"msg":"worker started"'), {
    what: `${app.name} to log "worker started"`,
    timeoutMs,
    intervalMs: 100,
  });
}

function runNode(main: string, args: readonly string[], env: Record<string, string>, tail: LogTail): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      tail.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      tail.write(chunk);
    });
    child.once('error', (error) => resolve({ code: -1, stdout, stderr: `${stderr}\n${error.message}` }));
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
  });
}

function lastNonEmptyLine(text: string): string | undefined {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .at(-1);
}

async function waitForHealth(
  baseUrl: string,
  app: RunningApp,
  timeoutMs: number,
  stillWaiting: () => boolean,
): Promise<void> {
  await waitFor(
    async () => {
      if (!stillWaiting()) return true;
      const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`GET ${baseUrl}/health answered ${response.status}`);
      return true;
    },
    { what: `${app.name} to answer GET ${baseUrl}/health with 200`, timeoutMs, intervalMs: 200 },
  );
}

/**
 * Runs `wait` but rejects as soon as one of `apps` exits, so a crashed app fails fast instead of after the
 * whole timeout. `wait` gets a function telling it whether anyone still cares (to stop polling).
 */
async function failIfAnyExits<T>(apps: RunningApp[], wait: (stillWaiting: () => boolean) => Promise<T>): Promise<T> {
  let settled = false;
  const exited = Promise.race(apps.map((app) => app.exited.then(() => app))).then((app) => {
    if (!settled) throw new AppExitedError(app);
    return undefined as never;
  });
  try {
    return await Promise.race([wait(() => !settled), exited]);
  } finally {
    settled = true;
  }
}

class AppExitedError extends Error {
  override readonly name = 'AppExitedError';
  readonly code = 'app_exited' as const;
  constructor(app: RunningApp) {
    super(`${app.name} exited unexpectedly (${app.child.exitCode ?? app.child.signalCode})`);
  }
}

async function waitForCursors(
  publicUrl: string,
  commitTimestamp: string,
  projections: readonly string[],
  timeoutMs: number,
  apps: RunningApp[],
): Promise<void> {
  const target = timestampMs(commitTimestamp);
  if (Number.isNaN(target)) throw new Error(`waitForProjection: "${commitTimestamp}" is not a timestamp`);
  let last = '(no answer yet)';
  try {
    await failIfAnyExits(apps, (stillWaiting) =>
      waitFor(
        async () => {
          if (!stillWaiting()) return true;
          const response = await fetch(`${publicUrl}/v3/cursors.json`, { signal: AbortSignal.timeout(5_000) });
          const text = await response.text();
          last = `${response.status} ${text}`;
          if (!response.ok) return false;
          const cursors = JSON.parse(text) as Record<string, unknown>;
          return projections.every((p) => {
            const value = cursors[p];
            return typeof value === 'string' && timestampMs(value) >= target;
          });
        },
        { what: `projections ${projections.join(', ')} to reach ${commitTimestamp}`, timeoutMs, intervalMs: 100 },
      ),
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}; last GET ${publicUrl}/v3/cursors.json: ${last}`, { cause: error });
  }
}
