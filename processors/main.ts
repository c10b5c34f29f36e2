/**
 * The processor entry point: runs one job on one input and writes one output, then exits with a code the
 * workflow understands: 0 on success, else the exit code of its failure in contract/failures.ts's table (any
 * other error exits 1, which the workflow retries). The compute backends run this file
 * in a container or a child process; `npm run process` runs it by hand.
 *
 * With `--job` the run is described by the command line (./cli.ts), otherwise by the environment
 * (./environment.ts); ./run.ts runs it, with the jobs of ./runners.ts. On success it prints one JSON line
 * of statistics on stdout. Diagnostics go to stderr: an expected failure (an ExplainedError) prints its
 * message, any other error its stack.
 *
 * Importing this module does nothing: it runs only as the main module.
 */
import '../common/instrument';
import { createLogger } from '../common/log';
import { runMain } from '../common/run-main';
import { contextFromEnvironment, exportsTraces, inSpan } from '../common/tracing';
import type * as TracingSdk from '../common/tracing-sdk';
import { ExplainedError, FAILURES } from '../contract/failures';
import { parseCli } from './cli';
import { fromEnvironment } from './environment';
import { discardOutputs, run } from './run';

/** The exits when stopped by SIGINT / SIGTERM (e.g. a cancelled activity): the table's transient failure. */
const EXIT_SIGNAL = FAILURES.transient.exitCodes;

/**
 * The exit code of an expected failure, the one its type carries (contract/failures.ts); undefined for one
 * without and for any other error, which exit 1.
 */
export function exitCodeOf(err: unknown): number | undefined {
  return err instanceof ExplainedError ? err.exitCode : undefined;
}

/** Set once SIGINT / SIGTERM (e.g. a cancelled activity) arrives: the exit code is then the signal's. */
let stoppedBy: keyof typeof EXIT_SIGNAL | undefined;

async function main(argv: readonly string[]): Promise<number> {
  try {
    const spec = argv.includes('--job') ? parseCli(argv) : fromEnvironment();
    const runJob = () => run(spec, createLogger('processor', spec.logLevel));
    // When spans are sent: a span of the file's trace (TRACEPARENT, from the activity that started this run), the
    // run's S3 and DynamoDB calls under it, sent before the process exits. Otherwise the SDK is not even loaded:
    // its memory would come out of the run's bound.
    let report;
    if (exportsTraces(process.env)) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when spans are sent
      const sdk = require('../common/tracing-sdk') as typeof TracingSdk;
      const tracing = sdk.startTracing('processor');
      report = await inSpan(
        tracing.tracer,
        `processor ${spec.job}`,
        contextFromEnvironment(process.env),
        { 'file_pipeline.job': spec.job },
        runJob,
      ).finally(() => tracing.shutdown());
    } else {
      report = await runJob();
    }
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
