/**
 * The processor entry point: runs one job on one input and writes one output, then exits with a code the
 * workflow understands (0 success, 65 invalid input, 66 input missing, 78 bad configuration, 2 command-line
 * misuse, 130 / 143 stopped by SIGINT / SIGTERM, other non-zero: retry). The compute backends run this file
 * in a container or a child process; `npm run process` runs it by hand.
 *
 * With `--job` the run is described by the command line (./cli.ts), otherwise by the environment
 * (./environment.ts); ./run.ts runs it, with the jobs of ./runners.ts. On success it prints one JSON line
 * of statistics on stdout. Diagnostics go to stderr: an expected failure (an error with an exit code of its
 * own) prints its message, any other error its stack, and exits 1.
 *
 * Importing this module does nothing: it runs only as the main module.
 */
import { ConfigError } from '../common/config';
import { createLogger } from '../common/log';
import { runMain } from '../common/run-main';
import { ExitCodeError } from '../contract/errors';
import { parseCli } from './cli';
import { fromEnvironment } from './environment';
import { discardOutputs, run } from './run';

/** Bad or missing environment configuration (sysexits EX_CONFIG): retrying cannot help until it is fixed. */
export const EXIT_CONFIG = 78;
/** Conventional 128 + signal number exits when stopped by SIGINT / SIGTERM (e.g. a cancelled activity). */
export const EXIT_SIGNAL = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * The exit code of an expected failure: the one its type carries, 78 for common/config.ts's ConfigError
 * (a bad variable, schema or chunk setting); undefined for any other error, which exits 1.
 */
export function exitCodeOf(err: unknown): number | undefined {
  if (err instanceof ExitCodeError) return err.exitCode;
  if (err instanceof ConfigError) return EXIT_CONFIG;
  return undefined;
}

/** Set once SIGINT / SIGTERM (e.g. a cancelled activity) arrives: the exit code is then the signal's. */
let stoppedBy: keyof typeof EXIT_SIGNAL | undefined;

async function main(argv: readonly string[]): Promise<number> {
  try {
    const spec = argv.includes('--job') ? parseCli(argv) : fromEnvironment();
    const report = await run(spec, createLogger('processor', spec.logLevel));
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } catch (err) {
    // The run failed because the signal handler discarded its output: that handler reports and exits.
    if (!stoppedBy) throw err;
  }
  return stoppedBy ? EXIT_SIGNAL[stoppedBy] : 0;
}

if (require.main === module) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stoppedBy = signal;
      process.stderr.write(`processor: ${signal} received, discarding the output\n`);
      const exit = () => process.exit(EXIT_SIGNAL[signal]);
      void discardOutputs().then(exit, exit);
    });
  }
  // The messages name their own file, variable or option: they are printed as they are, without a prefix.
  runMain('processor', () => main(process.argv.slice(2)), { exitCodeOf, prefix: false });
}
