/**
 * The processor entrypoint: runs one job on one input and writes one output, then exits with a code the
 * workflow understands (0 success, 65 invalid input, 66 input missing, 78 bad configuration, other
 * non-zero: retry). The compute backends run this file in a container or a child process; `npm run process`
 * runs it by hand.
 *
 *   Container mode: everything from the environment (SOURCE_BUCKET, OBJECT_KEY, DEST_BUCKET, DEST_KEY, JOB, …;
 *                   csv-validate also reads SCHEMA, SCHEMA_FILE, REJECTS_KEY and MAX_REJECTED_PERCENT).
 *   CLI mode:       npm run process -- --job csv-transform IN OUT [--processed-at ISO]
 *                   npm run process -- --job csv-validate IN OUT [--rejects PATH] [--schema NAME]
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
import { loadSchema, type CsvSchema } from './schema';
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
                          [--rejects PATH] [--schema NAME]
  IN, OUT, PATH: local paths or s3://bucket/key URIs
  csv-validate: --rejects defaults to OUT with .rejects.csv for a file, rejects/KEY for s3://BUCKET/KEY;
                --schema to the default of the schema file (SCHEMA_FILE, else the built-in config/schemas.json)`;

/** The command-line options, each followed by a value. */
const VALUE_OPTIONS = ['--job', '--processed-at', '--rejects', '--schema'] as const;
type ValueOption = (typeof VALUE_OPTIONS)[number];

function isValueOption(arg: string): arg is ValueOption {
  return (VALUE_OPTIONS as readonly string[]).includes(arg);
}

/** One job run, whichever mode described it. */
interface RunSpec {
  job: JobName;
  input: Location;
  output: Location;
  processedAt: string;
  aws: { AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** csv-validate only. */
  validate?: ValidateSpec;
}

/** What csv-validate needs besides its input and output. */
interface ValidateSpec {
  schema: CsvSchema;
  /** Where the rejects file goes. */
  rejects: Location;
  /** Overrides the schema's threshold. */
  maxRejectedPercent: number | undefined;
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
  const options: Partial<Record<ValueOption, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (isValueOption(arg)) {
      const value = argv[++i];
      if (value === undefined) throw usage(`${arg} needs a value`);
      options[arg] = value;
    } else if (arg.startsWith('--')) {
      throw usage(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  const { '--job': job, '--processed-at': processedAt, '--rejects': rejects, '--schema': schema } = options;
  if (job === undefined) throw usage('--job is required');
  if (positional.length !== 2) throw usage(`expected IN and OUT, got ${positional.length} argument(s)`);
  if (processedAt !== undefined && !z.iso.datetime().safeParse(processedAt).success) {
    throw usage(`--processed-at ${JSON.stringify(processedAt)} is not an ISO-8601 UTC timestamp`);
  }
  if (!isJobName(job)) throw unknownJob(job);
  if (job !== 'csv-validate' && (rejects !== undefined || schema !== undefined)) {
    throw usage('--rejects and --schema are options of csv-validate only');
  }
  let input: Location;
  let output: Location;
  let rejectsAt: Location | undefined;
  try {
    input = parseLocation(positional[0]!);
    output = parseLocation(positional[1]!);
    rejectsAt = rejects === undefined ? undefined : parseLocation(rejects);
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (rejectsAt && describeLocation(rejectsAt) === describeLocation(output)) {
    throw usage('--rejects must differ from OUT');
  }
  const env = loadConfig('processor', ['AWS_REGION', 'AWS_ENDPOINT_URL', 'LOG_LEVEL']);
  return {
    job,
    input,
    output,
    processedAt: processedAt ?? new Date().toISOString(),
    aws: env,
    logLevel: env.LOG_LEVEL,
    ...(job === 'csv-validate'
      ? { validate: validateSpec(rejectsAt ?? defaultRejects(output), schema) }
      : {}),
  };
}

/** Next to the output: `OUT.rejects.csv` for a file (`.csv` replaced), `rejects/KEY` in the same bucket. */
function defaultRejects(output: Location): Location {
  return output.kind === 's3'
    ? { kind: 's3', bucket: output.bucket, key: `rejects/${output.key}` }
    : { kind: 'file', path: `${output.path.replace(/\.csv$/i, '')}.rejects.csv` };
}

/**
 * The settings of csv-validate: the schema is loaded here, at start-up, so that a bad schema file stops the
 * run before it reads anything.
 * @param schemaName from the command line; otherwise SCHEMA, otherwise the schema file's default.
 */
function validateSpec(rejects: Location, schemaName?: string): ValidateSpec {
  const env = loadConfig('processor', ['SCHEMA', 'SCHEMA_FILE', 'MAX_REJECTED_PERCENT']);
  return {
    schema: loadSchema(env.SCHEMA_FILE, schemaName ?? env.SCHEMA),
    rejects,
    maxRejectedPercent: env.MAX_REJECTED_PERCENT,
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
  let validate: ValidateSpec | undefined;
  if (env.JOB === 'csv-validate') {
    const { REJECTS_KEY } = loadConfig('processor', ['REJECTS_KEY']);
    validate = validateSpec({
      kind: 's3',
      bucket: env.DEST_BUCKET,
      key: REJECTS_KEY ?? `rejects/${env.DEST_KEY}`,
    });
  }
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
    ...(validate ? { validate } : {}),
  };
}

/** What a job needs besides its streams. */
interface JobContext {
  processedAt: string;
  /** Path or URI of the input, for messages. */
  source: string;
  /** Object key or path of the input. */
  name: string;
  validate: ValidateSpec | undefined;
  /** Opens a further CSV output (with the main output's metadata), discarded if the process is stopped. */
  openCsvOutput: (location: Location) => Promise<OutputHandle>;
}

type JobRunner = (input: AsyncIterable<Buffer>, output: Writable, ctx: JobContext) => Promise<object>;

/** Each job's module is loaded only when it runs: pdfkit alone adds about 0.1 s to every start-up. */
const RUNNERS: Record<JobName, JobRunner> = {
  'csv-transform': async (input, output, { processedAt, source }) =>
    (await import('./csv-transform.js')).csvTransform(input, output, { processedAt, source }),
  'text-to-pdf': async (input, output, { name }) =>
    (await import('./text-to-pdf.js')).textToPdf(input, output, { title: name }),
  'csv-validate': async (input, output, { source, validate, openCsvOutput }) => {
    if (!validate) throw new Error('csv-validate runs without its settings');
    const { csvValidate, RejectThresholdError } = await import('./csv-validate.js');
    const rejectsName = describeLocation(validate.rejects);
    const rejects = await openCsvOutput(validate.rejects);
    try {
      const stats = await csvValidate(input, output, rejects.stream, {
        schema: validate.schema,
        source,
        maxRejectedPercent: validate.maxRejectedPercent,
        rejectsName,
      });
      await rejects.done;
      return { ...stats, rejects: rejectsName };
    } catch (err) {
      // Too many rejects fail the file, but the rejects file says why: it is kept.
      if (err instanceof RejectThresholdError) await rejects.done.catch(() => rejects.abort());
      else await rejects.abort();
      throw err;
    }
  },
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

/** The outputs being written, so that a signal can discard them before the process exits. */
const current = new Set<OutputHandle>();
/** Set once SIGINT / SIGTERM (e.g. a cancelled activity) arrives: the exit code is then the signal's. */
let stoppedBy: keyof typeof EXIT_SIGNAL | undefined;

async function run(spec: RunSpec, log: Logger): Promise<Record<string, unknown>> {
  const { job, input, output, processedAt } = spec;
  const s3: S3Client | undefined = [input, output, spec.validate?.rejects].some((l) => l?.kind === 's3')
    ? createAwsClients(spec.aws).s3
    : undefined;
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
  const open = async (location: Location, contentType: string) => {
    const handle = await openOutput(location, { contentType, metadata }, s3);
    current.add(handle);
    return handle;
  };
  let out: OutputHandle;
  try {
    out = await open(output, JOBS[job].contentType);
  } catch (err) {
    opened.stream.destroy();
    throw err;
  }
  const counter = { bytes: 0 };
  const bytes = countBytes(opened.stream, counter);
  try {
    const name = input.kind === 's3' ? input.key : input.path;
    const stats = await RUNNERS[job](bytes, out.stream, {
      processedAt,
      source,
      name,
      validate: spec.validate,
      openCsvOutput: (location) => open(location, JOBS['csv-validate'].contentType),
    });
    await out.done;
    return { job, ...stats, output: destination, bytesIn: counter.bytes };
  } catch (err) {
    opened.stream.destroy();
    await out.abort();
    throw err;
  } finally {
    current.clear();
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
    void Promise.all([...current].map((handle) => handle.abort())).then(exit, exit);
  });
}

void main(process.argv.slice(2)).then((code) => process.exit(stoppedBy ? EXIT_SIGNAL[stoppedBy] : code));
