/**
 * One condition a node needs to serve well: the database answers, Redis answers, the projections are
 * fresh enough. A check resolves (optionally with details to show) when the condition holds, and
 * throws when it does not. Only a {@link ReadinessError}'s message is shown in the report; any other
 * error shows as `<name> check failed (<error code>)`, so a driver's message (host names, user names)
 * never reaches an unauthenticated `/ready`.
 */
export interface ReadinessCheck {
  /** Names the check in the report: `database`, `redis`, `projections`. */
  readonly name: string;
  run(): Promise<Record<string, unknown> | void>;
}

/** A check's failure with a message meant for the operator reading `/ready`. */
export class ReadinessError extends Error {
  readonly code = 'not_ready' as const;
  constructor(
    message: string,
    readonly details?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ReadinessError';
  }
}

/** The outcome of one check in a {@link ReadinessReport}. */
export interface CheckOutcome {
  ok: boolean;
  /** How long the check took, in ms. */
  ms: number;
  /** Why it failed (absent when ok). */
  error?: string;
  /** What the check reported (lags, limits…), when it said anything. */
  details?: Record<string, unknown>;
}

/** The JSON body of `/ready`. */
export interface ReadinessReport {
  status: 'ready' | 'not_ready';
  /** Names of the failing checks, in check order (empty when ready). */
  failing: string[];
  checks: Record<string, CheckOutcome>;
}

/** Options of {@link runReadinessChecks}. */
export interface RunReadinessOptions {
  /** Longest a check may take before it counts as failed. @defaultValue 2000 */
  timeoutMs?: number;
}

/**
 * Runs every check at once, each under a timeout, and reports them all.
 * @returns status `ready` when every check passed (also when there are none).
 */
export async function runReadinessChecks(checks: readonly ReadinessCheck[], options: RunReadinessOptions = {}): Promise<ReadinessReport> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const outcomes = await Promise.all(checks.map((check) => runOne(check, timeoutMs)));
  const report: ReadinessReport = { status: 'ready', failing: [], checks: {} };
  checks.forEach((check, i) => {
    const outcome = outcomes[i]!;
    report.checks[check.name] = outcome;
    if (!outcome.ok) report.failing.push(check.name);
  });
  if (report.failing.length > 0) report.status = 'not_ready';
  return report;
}

async function runOne(check: ReadinessCheck, timeoutMs: number): Promise<CheckOutcome> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReadinessError(`${check.name} did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const details = await Promise.race([check.run(), timeout]);
    return { ok: true, ms: elapsed(started), ...(details ? { details } : {}) };
  } catch (error) {
    return {
      ok: false,
      ms: elapsed(started),
      error: describe(check.name, error),
      ...(error instanceof ReadinessError && error.details ? { details: error.details } : {}),
    };
  } finally {
    clearTimeout(timer);
  }
}

function describe(name: string, error: unknown): string {
  if (error instanceof ReadinessError) return error.message;
  const code = (error as { code?: unknown } | undefined)?.code;
  return `${name} check failed (${typeof code === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(code) ? code : 'error'})`;
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

/**
 * Checks that a projection lag is within `maxLagSeconds`: the building block of the `projections`
 * check of the read API and the worker.
 *
 * @param lags seconds of lag per projection (any measure; the apps pass how long the oldest commit
 *   not yet projected has waited).
 * @returns details `{ maxLagSeconds, lagSeconds: {...} }`.
 * @throws ReadinessError naming every projection past the limit.
 */
export function assertLagWithin(lags: Readonly<Record<string, number>>, maxLagSeconds: number): Record<string, unknown> {
  const details = { maxLagSeconds, lagSeconds: { ...lags } };
  const late = Object.entries(lags).filter(([, seconds]) => seconds > maxLagSeconds);
  if (late.length > 0) {
    const list = late.map(([projection, seconds]) => `${projection} ${seconds.toFixed(1)} s`).join(', ');
    throw new ReadinessError(`projections behind the catalog by more than ${maxLagSeconds} s: ${list}`, details);
  }
  return details;
}
