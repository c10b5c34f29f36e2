/**
 * The processor entrypoint: runs one job on one input and writes one output, then exits with a code the
 * workflow understands (0 success, 65 invalid input, 66 input missing, 78 bad configuration, other
 * non-zero: retry). The compute backends run this file in a container or a child process; `npm run process`
 * runs it by hand.
 *
 *   Container mode: everything from the environment (SOURCE_BUCKET, OBJECT_KEY, DEST_BUCKET, DEST_KEY, JOB, …).
 *   CLI mode:       npm run process -- --job csv-transform IN OUT [--processed-at ISO]
 *
 * On success it prints one JSON line of statistics on stdout; diagnostics go to stderr.
 */
import type { Writable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { createAwsClients } from '../common/aws';
import { ConfigError, loadConfig } from '../common/config';
import {
  EXIT_INPUT_MISSING,
  EXIT_INVALID_INPUT,
  JOBS,
  JOB_NAMES,
  OUTPUT_METADATA,
  isJobName,
  type JobName,
} from '../common/jobs';
import { createLogger, type Logger } from '../common/log';
import { InputMissingError, InvalidInputError } from './errors';
import {
  describeLocation,
  openInput,
  openOutput,
  parseLocation,
  type Location,
  type OutputHandle,
} from './storage';

/** Command-line misuse (sysexits EX_USAGE). */
const EXIT_USAGE = 2;
/** Bad or missing environment configuration (sysexits EX_CONFIG): retrying cannot help until it is fixed. */
const EXIT_CONFIG = 78;
/** Conventional 128 + signal number exits when stopped by SIGINT / SIGTERM (e.g. a cancelled activity). */
const EXIT_SIGNAL = { SIGINT: 130, SIGTERM: 143 } as const;

const USAGE = `usage: npm run process -- --job <${JOB_NAMES.join('|')}> IN OUT [--processed-at ISO-8601]
  IN, OUT: local paths or s3://bucket/key URIs`;

/** One job run, whichever mode described it. */
interface RunSpec {
  job: JobName;
  input: Location;
  output: Location;
  processedAt: string;
  aws: { AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** An error that ends the run with a given exit code and only its message (no stack). */
class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function unknownJob(job: string): ExitError {
  return new ExitError(
    `unknown job ${JSON.stringify(job)}; known jobs: ${JOB_NAMES.join(', ')}`,
    EXIT_INVALID_INPUT,
  );
}

function parseCli(argv: readonly string[]): RunSpec {
  const usage = (problem: string) => new ExitError(`${problem}\n${USAGE}`, EXIT_USAGE);
  const positional: string[] = [];
  let job: string | undefined;
  let processedAt: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--job' || arg === '--processed-at') {
      const value = argv[++i];
      if (value === undefined) throw usage(`${arg} needs a value`);
      if (arg === '--job') job = value;
      else processedAt = value;
    } else if (arg.startsWith('--')) {
      throw usage(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  if (job === undefined) throw usage('--job is required');
  if (positional.length !== 2) throw usage(`expected IN and OUT, got ${positional.length} argument(s)`);
  if (processedAt !== undefined && !z.iso.datetime().safeParse(processedAt).success) {
    throw usage(`--processed-at ${JSON.stringify(processedAt)} is not an ISO-8601 UTC timestamp`);
  }
  if (!isJobName(job)) throw unknownJob(job);
  let input: Location;
  let output: Location;
  try {
    input = parseLocation(positional[0]!);
    output = parseLocation(positional[1]!);
  } catch (err) {
    throw usage((err as Error).message);
  }
  const env = loadConfig('processor', ['AWS_REGION', 'AWS_ENDPOINT_URL', 'LOG_LEVEL']);
  return {
    job,
    input,
    output,
    processedAt: processedAt ?? new Date().toISOString(),
    aws: env,
    logLevel: env.LOG_LEVEL,
  };
}

function fromEnvironment(): RunSpec {
  const env = loadConfig('processor', [
    'SOURCE_BUCKET',
    'OBJECT_KEY',
    'SOURCE_ETAG',
    'SOURCE_VERSION_ID',
    'DEST_BUCKET',
    'DEST_KEY',
    'JOB',
    'PROCESSED_AT',
    'AWS_REGION',
    'AWS_ENDPOINT_URL',
    'LOG_LEVEL',
  ]);
  if (!isJobName(env.JOB)) throw unknownJob(env.JOB);
  return {
    job: env.JOB,
    input: {
      kind: 's3',
      bucket: env.SOURCE_BUCKET,
      key: env.OBJECT_KEY,
      ...(env.SOURCE_ETAG ? { etag: env.SOURCE_ETAG } : {}),
      ...(env.SOURCE_VERSION_ID ? { versionId: env.SOURCE_VERSION_ID } : {}),
    },
    output: { kind: 's3', bucket: env.DEST_BUCKET, key: env.DEST_KEY },
    processedAt: env.PROCESSED_AT ?? new Date().toISOString(),
    aws: env,
    logLevel: env.LOG_LEVEL,
  };
}

/** What a job needs besides its streams. */
interface JobContext {
  processedAt: string;
  /** Path or URI of the input, for messages. */
  source: string;
  /** Object key or path of the input. */
  name: string;
}

type JobRunner = (input: AsyncIterable<Buffer>, output: Writable, ctx: JobContext) => Promise<object>;

/** Each job's module is loaded only when it runs: pdfkit alone adds about 0.1 s to every start-up. */
const RUNNERS: Record<JobName, JobRunner> = {
  'csv-transform': async (input, output, { processedAt, source }) =>
    (await import('./csv-transform.js')).csvTransform(input, output, { processedAt, source }),
  'text-to-pdf': async (input, output, { name }) =>
    (await import('./text-to-pdf.js')).textToPdf(input, output, { title: name }),
};

/** Passes chunks through, counting bytes. */
async function* countBytes(
  source: AsyncIterable<Buffer>,
  counter: { bytes: number },
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    counter.bytes += chunk.length;
    yield chunk;
  }
}

/** The output being written, so that a signal can discard it before the process exits. */
let current: OutputHandle | undefined;
/** Set once SIGINT / SIGTERM (e.g. a cancelled activity) arrives: the exit code is then the signal's. */
let stoppedBy: keyof typeof EXIT_SIGNAL | undefined;

async function run(spec: RunSpec, log: Logger): Promise<Record<string, unknown>> {
  const { job, input, output, processedAt } = spec;
  const s3: S3Client | undefined =
    input.kind === 's3' || output.kind === 's3' ? createAwsClients(spec.aws).s3 : undefined;
  const source = describeLocation(input);
  const destination = describeLocation(output);
  log.info('processing', { job, source, destination, processedAt });

  const opened = await openInput(input, s3);
  const metadata: Record<string, string> = {
    [OUTPUT_METADATA.job]: job,
    [OUTPUT_METADATA.processedAt]: processedAt,
    ...(input.kind === 's3'
      ? { [OUTPUT_METADATA.sourceBucket]: input.bucket, [OUTPUT_METADATA.sourceKey]: input.key }
      : { [OUTPUT_METADATA.sourceKey]: input.path }),
    ...(opened.etag ? { [OUTPUT_METADATA.sourceEtag]: opened.etag } : {}),
    ...(opened.versionId ? { [OUTPUT_METADATA.sourceVersionId]: opened.versionId } : {}),
  };
  let out: OutputHandle;
  try {
    out = await openOutput(output, { contentType: JOBS[job].contentType, metadata }, s3);
  } catch (err) {
    opened.stream.destroy();
    throw err;
  }
  current = out;
  const counter = { bytes: 0 };
  const bytes = countBytes(opened.stream, counter);
  try {
    const name = input.kind === 's3' ? input.key : input.path;
    const stats = await RUNNERS[job](bytes, out.stream, { processedAt, source, name });
    await out.done;
    return { job, ...stats, output: destination, bytesIn: counter.bytes };
  } catch (err) {
    opened.stream.destroy();
    await out.abort();
    throw err;
  } finally {
    current = undefined;
  }
}

function exitCodeOf(err: unknown): number {
  if (err instanceof InvalidInputError) return EXIT_INVALID_INPUT;
  if (err instanceof InputMissingError) return EXIT_INPUT_MISSING;
  if (err instanceof ConfigError) return EXIT_CONFIG;
  if (err instanceof ExitError) return err.exitCode;
  return 1;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const spec = argv.includes('--job') ? parseCli(argv) : fromEnvironment();
    const report = await run(spec, createLogger('processor', spec.logLevel));
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } catch (err) {
    // The run failed because the signal handler discarded its output: that handler reports and exits.
    if (stoppedBy) return EXIT_SIGNAL[stoppedBy];
    const code = exitCodeOf(err);
    // Expected failures are explained by their message; only unexpected ones need the stack.
    const text = !(err instanceof Error)
      ? String(err)
      : code === 1
        ? (err.stack ?? err.message)
        : err.message;
    process.stderr.write(`${text}\n`);
    return code;
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stoppedBy = signal;
    process.stderr.write(`processor: ${signal} received, discarding the output\n`);
    const exit = () => process.exit(EXIT_SIGNAL[signal]);
    void (current?.abort() ?? Promise.resolve()).then(exit, exit);
  });
}

void main(process.argv.slice(2)).then((code) => process.exit(stoppedBy ? EXIT_SIGNAL[stoppedBy] : code));
