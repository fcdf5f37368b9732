/** One invalid environment variable. */
export interface ConfigProblem {
  /** The variable's name, e.g. `NUCAT_READ_PORT`. */
  variable: string;
  /** What is wrong and what is accepted. Never contains a secret. */
  message: string;
}

/**
 * Thrown by `loadConfig` when any variable is invalid. It lists every problem at once, each naming its
 * variable, so one restart fixes them all.
 */
export class ConfigError extends Error {
  /** Stable error code. */
  readonly code = 'invalid_config' as const;
  /** Every problem found, in the order of the variables' use. */
  readonly problems: readonly ConfigProblem[];
  /** `{ problems }`, for callers that handle errors generically. */
  readonly details: { problems: readonly ConfigProblem[] };

  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.variable}: ${p.message}`);
    super(`invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
    this.details = Object.freeze({ problems: this.problems });
  }
}
