/**
 * One logging method: structured fields first and a constant message, or a message alone.
 * @example log.info({ count, toCursor }, 'projected batch');
 */
export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

/**
 * The logger every package receives in its options: the subset of pino's logger nucat uses, so a pino
 * logger can be passed as is. Packages never import pino; apps create it.
 */
export interface Logger {
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  /** A logger that adds `bindings` to every line, e.g. `{ requestId }` or `{ projection }`. */
  child(bindings: Record<string, unknown>): Logger;
}
