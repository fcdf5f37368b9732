import { parseArgs } from 'node:util';
import { formatFeedDifference, splitIdGlobs, verifyFeeds } from '@nucat/mirror';

/** Usage lines of the verify command, for the CLI's help. */
export const VERIFY_USAGE = `  verify --source <service index A> --target <service index B> [--ids 'A.*,B'] [--concurrency N]
                                        compare two feeds over their public HTTP APIs (ids from both
                                        catalogs): flat container versions, .nupkg bytes (SHA-512) and
                                        listed state. Prints each difference (missing, extra,
                                        different-bytes, different-listed) on its own line; exits 0 when
                                        the feeds agree, 1 when they differ, 2 when one cannot be read.`;

/**
 * `nucat verify --source A --target B [--ids globs]`: differences on stdout (one per line), a summary on stderr.
 * @returns the exit code: 0 equal, 1 different, 2 a feed could not be read.
 */
export async function runVerifyCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { source: { type: 'string' }, target: { type: 'string' }, ids: { type: 'string' }, concurrency: { type: 'string' } },
    allowPositionals: false,
  });
  if (!values.source || !values.target) throw new Error(`verify needs --source and --target service index URLs\n\n${VERIFY_USAGE}`);
  const concurrency = values.concurrency !== undefined ? Number(values.concurrency) : undefined;
  const started = Date.now();
  let result;
  try {
    result = await verifyFeeds({
      source: values.source,
      target: values.target,
      idGlobs: splitIdGlobs(values.ids),
      ...(concurrency !== undefined ? { concurrency } : {}),
    });
  } catch (error) {
    process.stderr.write(`nucat verify: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  for (const difference of result.differences) process.stdout.write(`${formatFeedDifference(difference)}\n`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stderr.write(
    `verify: ${result.ids} ids, ${result.versions} versions compared in ${seconds} s: ` +
      `${result.differences.length === 0 ? 'the feeds agree' : `${result.differences.length} difference(s)`}\n`,
  );
  return result.differences.length === 0 ? 0 : 1;
}
