import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '@nucat/config';

/** Usage lines of the push command, for the CLI's help. */
export const PUSH_USAGE = `  push <pkg.nupkg> [--source <service index>] [--api-key K] [--wait [restore|search]] [--timeout 60]
                                        push a package over HTTP (PackagePublish of the service index;
                                        default source: NUCAT_PUBLIC_URL/v3/index.json) and print its
                                        commit timestamp. --wait returns once it is restorable (flat
                                        container and registration cursors past the commit), or also
                                        searchable with --wait search. Exit 3: --timeout seconds passed;
                                        exit 4: the version exists (409).`;

/** Exit codes of `nucat push`. */
export const PUSH_EXIT = { ok: 0, failed: 1, usage: 2, timeout: 3, conflict: 4 } as const;

/** The projections `--wait` waits for. */
export const WAIT_PROJECTIONS = {
  restore: ['flatcontainer', 'registration'],
  search: ['flatcontainer', 'registration', 'search'],
} as const;

type WaitFor = keyof typeof WAIT_PROJECTIONS;

/** How often `--wait` reads the cursors. */
const POLL_MS = 200;

/**
 * `nucat push <pkg.nupkg> [--source URL] [--api-key K] [--wait [restore|search]] [--timeout S]`.
 *
 * The body is the raw `.nupkg`, streamed from the file (`application/octet-stream`, with its
 * length). Read-your-writes: the publish answer's `X-Nucat-Commit-Timestamp` is compared with the
 * read side's `cursors.json` (next to the service index) until every needed cursor is at or past it.
 * @returns the exit code (see {@link PUSH_EXIT}).
 */
export async function runPushCommand(args: string[]): Promise<number> {
  let parsed: PushArgs;
  try {
    parsed = parsePushArgs(args);
  } catch (error) {
    process.stderr.write(`nucat: ${error instanceof Error ? error.message : String(error)}\n`);
    return PUSH_EXIT.usage;
  }
  const { file, source, apiKey, waitFor, timeoutSeconds } = parsed;
  const serviceIndexUrl = source ?? `${loadConfig(process.env).publicUrl}/v3/index.json`;
  const readHeaders: Record<string, string> = apiKey ? { 'X-NuGet-ApiKey': apiKey } : {};

  const index = await fetchJson(serviceIndexUrl, readHeaders, 'the service index');
  const publishUrl = findResource(index, 'PackagePublish/2.0.0');
  if (!publishUrl) throw new Error(`the service index ${serviceIndexUrl} has no PackagePublish/2.0.0 resource`);

  const reply = await putPackage(publishUrl, file, apiKey);
  const message = reply.message ?? reply.body.slice(0, 300);
  if (reply.status === 409) {
    process.stderr.write(`nucat: ${message || 'this package version already exists'} (409)\n`);
    return PUSH_EXIT.conflict;
  }
  if (reply.status < 200 || reply.status >= 300) {
    process.stderr.write(`nucat: push failed: ${reply.status}${message ? ` ${message}` : ''}\n`);
    return PUSH_EXIT.failed;
  }
  const commitTimestamp = reply.commitTimestamp;
  process.stdout.write(`pushed ${reply.packageId ?? file}${reply.version ? ` ${reply.version}` : ''}\n`);
  process.stdout.write(`commit timestamp: ${commitTimestamp ?? '(not given)'}\n`);
  if (!waitFor) return PUSH_EXIT.ok;
  if (!commitTimestamp) throw new Error('the server did not send X-Nucat-Commit-Timestamp, so --wait cannot tell when the push is visible');

  const cursorsUrl = new URL('cursors.json', serviceIndexUrl).href;
  const needed = WAIT_PROJECTIONS[waitFor];
  const target = timestampMs(commitTimestamp);
  if (Number.isNaN(target)) throw new Error(`the server sent an unreadable commit timestamp: ${commitTimestamp}`);
  const deadline = performance.now() + timeoutSeconds * 1000;
  let last: Record<string, unknown> = {};
  let lastError: string | undefined;
  for (;;) {
    try {
      last = await fetchJson(cursorsUrl, readHeaders, 'the projection cursors');
      lastError = undefined;
      const behind = needed.filter((p) => !(typeof last[p] === 'string' && timestampMs(last[p]) >= target));
      if (behind.length === 0) {
        process.stdout.write(`${waitFor === 'search' ? 'searchable' : 'restorable'}: ${needed.join(', ')} at or past ${commitTimestamp}\n`);
        return PUSH_EXIT.ok;
      }
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (performance.now() >= deadline) {
      const state = needed.map((p) => `${p} at ${typeof last[p] === 'string' ? last[p] : 'unknown'}`).join(', ');
      process.stderr.write(
        `nucat: timed out after ${timeoutSeconds} s waiting for ${needed.join(', ')} to reach ${commitTimestamp}` +
          ` (${state}${lastError ? `; last error: ${lastError}` : ''}). The push itself succeeded.\n`,
      );
      return PUSH_EXIT.timeout;
    }
    await sleep(POLL_MS);
  }
}

interface PushArgs {
  file: string;
  source: string | undefined;
  apiKey: string | undefined;
  waitFor: WaitFor | undefined;
  timeoutSeconds: number;
}

/** Parses the arguments; `--wait` takes an optional value (`restore` when absent). Throws a usage error. */
export function parsePushArgs(args: readonly string[]): PushArgs {
  // node:util parseArgs has no optional values: make a bare `--wait` explicit first.
  const normalized: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--wait') {
      const next = args[i + 1];
      if (next === 'restore' || next === 'search') {
        normalized.push(`--wait=${next}`);
        i++;
      } else {
        normalized.push('--wait=restore');
      }
    } else {
      normalized.push(arg);
    }
  }
  const { values, positionals } = parseArgs({
    args: normalized,
    allowPositionals: true,
    options: {
      source: { type: 'string', short: 's' },
      'api-key': { type: 'string', short: 'k' },
      wait: { type: 'string' },
      timeout: { type: 'string', default: '60' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(`push needs exactly one package file\n\n${PUSH_USAGE}`);
  const wait = values.wait;
  if (wait !== undefined && wait !== 'restore' && wait !== 'search') throw new UsageError(`--wait takes restore or search, not '${wait}'`);
  const timeoutSeconds = Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout must be a positive number of seconds, not '${values.timeout}'`);
  return { file: positionals[0]!, source: values.source, apiKey: values['api-key'], waitFor: wait, timeoutSeconds };
}

/** A command-line mistake: exit code 2. */
export class UsageError extends Error {
  readonly code = 'usage';
  readonly exitCode = PUSH_EXIT.usage;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

interface PushReply {
  status: number;
  body: string;
  message: string | undefined;
  commitTimestamp: string | undefined;
  packageId: string | undefined;
  version: string | undefined;
}

/** PUTs the file to `{publishUrl}/` as the raw body, streamed, with its length. */
async function putPackage(publishUrl: string, file: string, apiKey: string | undefined): Promise<PushReply> {
  const { size } = await stat(file);
  const url = new URL(publishUrl.endsWith('/') ? publishUrl : `${publishUrl}/`);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, {
      method: 'PUT',
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(size),
        ...(apiKey ? { 'X-NuGet-ApiKey': apiKey } : {}),
      },
    });
    let answered = false;
    req.once('response', (res) => {
      answered = true;
      resolve(res);
    });
    // A server that refuses before reading the whole body (401, 413) may close while we still send:
    // its answer is what matters.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const body = createReadStream(file);
    body.once('error', (error) => {
      req.destroy(error);
      reject(error);
    });
    body.pipe(req);
  });
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: { id?: unknown; version?: unknown; error?: { message?: unknown } } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // Not JSON: the raw text is the message.
  }
  const header = response.headers['x-nucat-commit-timestamp'];
  return {
    status: response.statusCode ?? 0,
    body: text,
    message: typeof parsed.error?.message === 'string' ? parsed.error.message : undefined,
    commitTimestamp: typeof header === 'string' ? header : undefined,
    packageId: typeof parsed.id === 'string' ? parsed.id : undefined,
    version: typeof parsed.version === 'string' ? parsed.version : undefined,
  };
}

async function fetchJson(url: string, headers: Record<string, string>, what: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${url} (${what}) answered ${response.status}`);
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`GET ${url} (${what}) did not answer JSON`);
  }
}

/** The `@id` of the first resource of `type` in a service index. */
function findResource(index: Record<string, unknown>, type: string): string | undefined {
  const resources = Array.isArray(index['resources']) ? (index['resources'] as Record<string, unknown>[]) : [];
  const found = resources.find((r) => r['@type'] === type || (Array.isArray(r['@type']) && r['@type'].includes(type)));
  return typeof found?.['@id'] === 'string' ? found['@id'] : undefined;
}

/**
 * Milliseconds of a catalog timestamp (`2025-03-01T10:00:00.1230000Z`; more than 3 fraction digits
 * are cut, nucat's commit timestamps are whole milliseconds); NaN when it is not one.
 */
export function timestampMs(text: unknown): number {
  if (typeof text !== 'string') return Number.NaN;
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(text);
  if (!match) return Number.NaN;
  return Date.parse(`${match[1]}.${(match[2] ?? '').padEnd(3, '0').slice(0, 3)}${match[3] ?? 'Z'}`);
}
