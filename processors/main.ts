/**
 * The processor entrypoint: runs one job on one input and writes one output, then exits with a code the
 * workflow understands (0 success, 65 invalid input, 66 input missing, 78 bad configuration, other
 * non-zero: retry). The compute backends run this file in a container or a child process; `npm run process`
 * runs it by hand.
 *
 *   Container mode: everything from the environment (SOURCE_BUCKET, OBJECT_KEY, DEST_BUCKET, DEST_KEY, JOB, …;
 *                   csv-validate also reads SCHEMA, SCHEMA_FILE, REJECTS_KEY and MAX_REJECTED_PERCENT; a chunk
 *                   of a CSV file RANGE_START, RANGE_END, CSV_HEADER, FIRST_ROW and FIRST_LINE; any job STATS_KEY).
 *   CLI mode:       npm run process -- --job csv-transform IN OUT [--processed-at ISO]
 *                   npm run process -- --job csv-validate IN OUT [--rejects PATH] [--schema NAME]
 *                   chunk options (CSV jobs): --range START-END [--header TEXT --first-row N --first-line N]
 *                   any job: --stats PATH
 *
 * A chunk is the byte range [START, END) of a CSV file, made of whole records. The first chunk starts at 0 and
 * is processed like a file that stops at END; any other has no header: it is given (CSV_HEADER), only its
 * records are written, and FIRST_ROW / FIRST_LINE make the row and line numbers of its rejects and errors the
 * file's. So the outputs of a file's chunks, concatenated in order, are byte for byte the output of the whole
 * file, and so are the rejects files. csv-validate leaves the rejected-row threshold of a chunked file to its
 * caller, who sums the chunks' counts.
 *
 * On success it prints one JSON line of statistics on stdout; with STATS_KEY / --stats it also stores them,
 * once the output (and the rejects) are complete: their existence means the run succeeded. Diagnostics go to
 * stderr.
 */
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { createAwsClients, type AwsSettings } from '../common/aws';
import { ConfigError, loadConfig } from '../common/config';
import {
  EXIT_INPUT_MISSING,
  EXIT_INVALID_INPUT,
  JOBS,
  JOB_NAMES,
  OUTPUT_METADATA,
  isJobName,
  type JobName,
} from '../contract/jobs';
import { createLogger, type Logger } from '../common/log';
import { rejectsKeyFor } from '../contract/layout';
import { refuseWideEncodings } from '../csv/encoding';
import { InputMissingError, InvalidInputError } from '../contract/errors';
import { loadSchema, type CsvSchema } from './schema';
import {
  RangeNotSatisfiableError,
  describeLocation,
  openInput,
  openOutput,
  parseLocation,
  replaceMetadata,
  type ByteRange,
  type Location,
  type OutputHandle,
  type StoredOutput,
} from './object-io';

const STATS_CONTENT_TYPE = 'application/json';

/** Command-line misuse (sysexits EX_USAGE). */
const EXIT_USAGE = 2;
/** Bad or missing environment configuration (sysexits EX_CONFIG): retrying cannot help until it is fixed. */
const EXIT_CONFIG = 78;
/** Conventional 128 + signal number exits when stopped by SIGINT / SIGTERM (e.g. a cancelled activity). */
const EXIT_SIGNAL = { SIGINT: 130, SIGTERM: 143 } as const;

const USAGE = `usage: npm run process -- --job <${JOB_NAMES.join('|')}> IN OUT [--processed-at ISO-8601]
                          [--rejects PATH] [--schema NAME] [--stats PATH]
                          [--range START-END [--header TEXT] [--first-row N] [--first-line N]]
  IN, OUT, PATH: local paths or s3://bucket/key URIs
  csv-validate: --rejects defaults to OUT with .rejects.csv for a file, rejects/KEY for s3://BUCKET/KEY;
                --schema to the default of the schema file (SCHEMA_FILE, else the built-in config/schemas.json)
  --stats:      also write the JSON statistics there, once the output is complete
  CSV jobs, a chunk of IN: --range, bytes START (0-based) to END (exclusive), whole records;
                --header, the file's header record (no BOM, no line end), for a range not starting at 0;
                --first-row, --first-line: the file's data row and line numbers where the range starts`;

/** The command-line options, each followed by a value. */
const VALUE_OPTIONS = [
  '--job',
  '--processed-at',
  '--rejects',
  '--schema',
  '--stats',
  '--range',
  '--header',
  '--first-row',
  '--first-line',
] as const;
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
  aws: AwsSettings;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** csv-validate only. */
  validate?: ValidateSpec;
  /** CSV jobs: process only this chunk of the input. */
  chunk?: ChunkSpec;
  /** Where the statistics are also written, as JSON. */
  stats?: Location;
}

/** A chunk of a CSV file: a byte range of whole records, and where it sits in the file. */
interface ChunkSpec {
  range: ByteRange;
  /** The file's header record, for a range that does not start at 0 (which has none). */
  header: string | undefined;
  firstRow: number;
  firstLine: number;
  /** How the settings were given (variables or options), for messages. */
  names: ChunkNames;
}

/** The names of the chunk settings where they come from. */
interface ChunkNames {
  /** Both ends of the range. */
  range: string;
  start: string;
  end: string;
  header: string;
  firstRow: string;
  firstLine: string;
}

const ENV_CHUNK_NAMES: ChunkNames = {
  range: 'RANGE_START and RANGE_END',
  start: 'RANGE_START',
  end: 'RANGE_END',
  header: 'CSV_HEADER',
  firstRow: 'FIRST_ROW',
  firstLine: 'FIRST_LINE',
};
const CLI_CHUNK_NAMES: ChunkNames = {
  range: '--range',
  start: '--range START',
  end: '--range END',
  header: '--header',
  firstRow: '--first-row',
  firstLine: '--first-line',
};

/** The chunk settings as given, before {@link chunkSpec} checks that they agree. */
interface ChunkSettings {
  start: number | undefined;
  end: number | undefined;
  header: string | undefined;
  firstRow: number;
  firstLine: number;
}

/**
 * Checks the chunk settings against each other and the job.
 * @param fail makes the error for a problem (a configuration error, or a usage error on the command line).
 * @returns undefined when no range is given: the whole input is processed.
 */
function chunkSpec(
  job: JobName,
  given: ChunkSettings,
  names: ChunkNames,
  fail: (problem: string) => Error,
): ChunkSpec | undefined {
  const { start, end, header, firstRow, firstLine } = given;
  const startsFile = `${names.firstRow} and ${names.firstLine} are 1 where the file starts`;
  if (start === undefined || end === undefined) {
    if (start !== undefined || end !== undefined) {
      throw fail(`${names.start} and ${names.end} go together: set both for a chunk, or neither`);
    }
    if (header !== undefined) {
      throw fail(`${names.header} is only for a chunk: set ${names.range} too, or unset it`);
    }
    if (firstRow !== 1 || firstLine !== 1) {
      throw fail(`${names.firstRow} and ${names.firstLine} are only for a chunk (${startsFile})`);
    }
    return undefined;
  }
  if (job !== 'csv-transform' && job !== 'csv-validate') {
    throw fail(`a range (${names.range}) is for the CSV jobs only; job ${job} processes whole files`);
  }
  if (start >= end) {
    throw fail(
      `${names.start} (${start}) must be less than ${names.end} (${end}): the range is [start, end)`,
    );
  }
  if (start === 0 && header !== undefined) {
    throw fail(
      `${names.header} must not be set for the chunk that starts at 0 (${names.start}=0): that chunk reads the header from the file`,
    );
  }
  if (start > 0 && header === undefined) {
    throw fail(
      `a chunk that starts after the header (${names.start}=${start}) needs ${names.header}, the file's header record without its line end`,
    );
  }
  if (start === 0 && (firstRow !== 1 || firstLine !== 1)) {
    throw fail(`${startsFile}: the chunk with ${names.start}=0 starts the file`);
  }
  return { range: { start, end }, header, firstRow, firstLine, names };
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
  const {
    '--job': job,
    '--processed-at': processedAt,
    '--rejects': rejects,
    '--schema': schema,
    '--stats': stats,
  } = options;
  if (job === undefined) throw usage('--job is required');
  if (positional.length !== 2) throw usage(`expected IN and OUT, got ${positional.length} argument(s)`);
  if (processedAt !== undefined && !z.iso.datetime().safeParse(processedAt).success) {
    throw usage(`--processed-at ${JSON.stringify(processedAt)} is not an ISO-8601 UTC timestamp`);
  }
  if (!isJobName(job)) throw unknownJob(job);
  if (job !== 'csv-validate' && (rejects !== undefined || schema !== undefined)) {
    throw usage('--rejects and --schema are options of csv-validate only');
  }
  const chunk = chunkSpec(job, cliChunkSettings(options, usage), CLI_CHUNK_NAMES, usage);
  let input: Location;
  let output: Location;
  let rejectsAt: Location | undefined;
  let statsAt: Location | undefined;
  try {
    input = parseLocation(positional[0]!);
    output = parseLocation(positional[1]!);
    rejectsAt = rejects === undefined ? undefined : parseLocation(rejects);
    statsAt = stats === undefined ? undefined : parseLocation(stats);
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (rejectsAt && describeLocation(rejectsAt) === describeLocation(output)) {
    throw usage('--rejects must differ from OUT');
  }
  const validate =
    job === 'csv-validate' ? validateSpec(rejectsAt ?? defaultRejects(output), schema) : undefined;
  const taken = [output, validate?.rejects].flatMap((l) => (l ? [describeLocation(l)] : []));
  if (statsAt && taken.includes(describeLocation(statsAt))) {
    throw usage('--stats must differ from OUT and the rejects file');
  }
  const env = loadConfig('processor', ['AWS_REGION', 'AWS_ENDPOINT_URL', 'LOG_LEVEL']);
  return {
    job,
    input,
    output,
    processedAt: processedAt ?? new Date().toISOString(),
    aws: env,
    logLevel: env.LOG_LEVEL,
    ...(validate ? { validate } : {}),
    ...(chunk ? { chunk } : {}),
    ...(statsAt ? { stats: statsAt } : {}),
  };
}

/** Reads `--range START-END`, `--header`, `--first-row` and `--first-line`. */
function cliChunkSettings(
  options: Partial<Record<ValueOption, string>>,
  usage: (problem: string) => Error,
): ChunkSettings {
  const { '--range': range, '--header': header } = options;
  const count = (option: '--first-row' | '--first-line') => {
    const value = options[option];
    if (value === undefined) return 1;
    if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw usage(`${option} ${JSON.stringify(value)} is not a positive integer`);
    }
    return Number(value);
  };
  let start: number | undefined;
  let end: number | undefined;
  if (range !== undefined) {
    const match = /^([0-9]+)-([0-9]+)$/.exec(range);
    start = Number(match?.[1]);
    end = Number(match?.[2]);
    if (!match || !Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
      throw usage(`--range ${JSON.stringify(range)} is not START-END, two byte offsets such as 0-1048576`);
    }
  }
  return { start, end, header, firstRow: count('--first-row'), firstLine: count('--first-line') };
}

/** Next to the output: `OUT.rejects.csv` for a file (`.csv` replaced), `rejects/KEY` in the same bucket. */
function defaultRejects(output: Location): Location {
  return output.kind === 's3'
    ? { kind: 's3', bucket: output.bucket, key: rejectsKeyFor(output.key) }
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
    'AWS_CALL_LOG_DIR',
    'LOG_LEVEL',
    'STATS_KEY',
    'RANGE_START',
    'RANGE_END',
    'CSV_HEADER',
    'FIRST_ROW',
    'FIRST_LINE',
  ]);
  if (!isJobName(env.JOB)) throw unknownJob(env.JOB);
  const invalid = (problem: string) =>
    new ConfigError(
      `processor: invalid configuration: ${problem}. Set the variables right and start it again.`,
    );
  const chunk = chunkSpec(
    env.JOB,
    {
      start: env.RANGE_START,
      end: env.RANGE_END,
      header: env.CSV_HEADER,
      firstRow: env.FIRST_ROW,
      firstLine: env.FIRST_LINE,
    },
    ENV_CHUNK_NAMES,
    invalid,
  );
  let validate: ValidateSpec | undefined;
  if (env.JOB === 'csv-validate') {
    const { REJECTS_KEY } = loadConfig('processor', ['REJECTS_KEY']);
    validate = validateSpec({
      kind: 's3',
      bucket: env.DEST_BUCKET,
      key: REJECTS_KEY ?? rejectsKeyFor(env.DEST_KEY),
    });
  }
  const taken = [env.DEST_KEY, validate?.rejects.kind === 's3' ? validate.rejects.key : undefined];
  if (env.STATS_KEY !== undefined && taken.includes(env.STATS_KEY)) {
    throw invalid(`STATS_KEY (${env.STATS_KEY}) must differ from DEST_KEY and REJECTS_KEY`);
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
    ...(chunk ? { chunk } : {}),
    ...(env.STATS_KEY !== undefined
      ? { stats: { kind: 's3', bucket: env.DEST_BUCKET, key: env.STATS_KEY } as const }
      : {}),
  };
}

/** What a job needs besides its streams. */
interface JobContext {
  processedAt: string;
  /** Bytes the job will read, when known. */
  size: number | undefined;
  /** Path or URI of the input, for messages. */
  source: string;
  /** Object key or path of the input. */
  name: string;
  validate: ValidateSpec | undefined;
  chunk: ChunkSpec | undefined;
  /** Opens a further CSV output (with the main output's metadata), discarded if the process is stopped. */
  openCsvOutput: (location: Location) => Promise<OutputHandle>;
}

/** Inputs from this size on are transformed by worker threads, one per core (two at most): smaller ones start faster alone. */
const PARALLEL_FROM_BYTES = 16 * 1024 * 1024;

function transformThreads(size: number | undefined): number {
  return size !== undefined && size >= PARALLEL_FROM_BYTES ? Math.min(2, availableParallelism()) : 1;
}

type JobRunner = (input: AsyncIterable<Buffer>, output: Writable, ctx: JobContext) => Promise<object>;

/** Each job's module is loaded only when it runs: pdfkit alone adds about 0.1 s to every start-up. */
const RUNNERS: Record<JobName, JobRunner> = {
  'csv-transform': async (input, output, { processedAt, source, chunk, size }) =>
    (await import('./csv-transform.js')).csvTransform(input, output, {
      processedAt,
      source,
      threads: transformThreads(size),
      header: chunk?.header,
      firstRow: chunk?.firstRow,
      firstLine: chunk?.firstLine,
    }),
  'text-to-pdf': async (input, output, { name, source }) =>
    (await import('./text-to-pdf.js')).textToPdf(input, output, { title: name, source }),
  'csv-validate': async (input, output, { source, validate, chunk, openCsvOutput }) => {
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
        header: chunk?.header,
        firstRow: chunk?.firstRow,
        firstLine: chunk?.firstLine,
        // A chunk's share of rejects says nothing about the file's: its caller applies the threshold.
        applyThreshold: chunk === undefined,
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

const LF = 0x0a;

/**
 * Passes chunks through, counting bytes, once the input is known not to be UTF-16 or UTF-32. For a chunk of a file that ends before the file does, checks that
 * its last byte ends a line, as the end of a record must: a range planned wrong (or for another version)
 * would otherwise cut a record in two without any error, and the concatenated parts would differ from the
 * file's output.
 */
async function* readInput(
  source: AsyncIterable<Buffer>,
  counter: { bytes: number },
  chunk: ChunkSpec | undefined,
  size: number | undefined,
  name: string,
): AsyncGenerator<Buffer> {
  let last: number | undefined;
  // Only the start of a file shows its encoding; a chunk further in belongs to a file the planner checked.
  const checked = chunk && chunk.range.start > 0 ? source : refuseWideEncodings(source, name);
  for await (const piece of checked) {
    counter.bytes += piece.length;
    if (piece.length > 0) last = piece[piece.length - 1];
    yield piece;
  }
  if (chunk && chunk.range.end !== size && last !== LF) {
    const { names, range } = chunk;
    throw new ConfigError(
      `processor: ${names.end}=${range.end} is not the end of a record of ${name}: byte ${range.end - 1} is not a line feed. ` +
        'Chunks must end where records end: plan them with a scan of the quote state of this version of the file.',
    );
  }
}

/** The outputs being written, so that a signal can discard them before the process exits. */
const current = new Set<OutputHandle>();
/** Set once SIGINT / SIGTERM (e.g. a cancelled activity) arrives: the exit code is then the signal's. */
let stoppedBy: keyof typeof EXIT_SIGNAL | undefined;

async function run(spec: RunSpec, log: Logger): Promise<Record<string, unknown>> {
  const { job, input, output, processedAt } = spec;
  const s3: S3Client | undefined = [input, output, spec.validate?.rejects, spec.stats].some(
    (l) => l?.kind === 's3',
  )
    ? createAwsClients(spec.aws, 'processor').s3
    : undefined;
  const { chunk } = spec;
  const source = describeLocation(input);
  const destination = describeLocation(output);
  log.info('processing', { job, source, destination, processedAt, ...(chunk ? { range: chunk.range } : {}) });

  const opened = await openInput(input, s3, chunk?.range).catch((err: unknown) => {
    if (!(err instanceof RangeNotSatisfiableError) || !chunk) throw err;
    throw new ConfigError(
      `processor: the range (${chunk.names.range}) does not fit the input: ${err.message}. ` +
        'Plan the chunks from this version of the file.',
      { cause: err },
    );
  });
  const metadata: Record<string, string> = {
    [OUTPUT_METADATA.job]: job,
    [OUTPUT_METADATA.processedAt]: processedAt,
    ...(input.kind === 's3'
      ? { [OUTPUT_METADATA.sourceBucket]: input.bucket, [OUTPUT_METADATA.sourceKey]: input.key }
      : { [OUTPUT_METADATA.sourceKey]: input.path }),
    ...(opened.etag ? { [OUTPUT_METADATA.sourceEtag]: opened.etag } : {}),
    ...(opened.versionId ? { [OUTPUT_METADATA.sourceVersionId]: opened.versionId } : {}),
    ...(chunk
      ? {
          [OUTPUT_METADATA.rangeStart]: String(chunk.range.start),
          [OUTPUT_METADATA.rangeEnd]: String(chunk.range.end),
        }
      : {}),
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
  const bytes = readInput(opened.stream, counter, chunk, opened.size, source);
  let stats: Record<string, unknown>;
  let stored: StoredOutput;
  try {
    const name = input.kind === 's3' ? input.key : input.path;
    stats = {
      ...(await RUNNERS[job](bytes, out.stream, {
        processedAt,
        source,
        name,
        validate: spec.validate,
        chunk,
        size: chunk ? chunk.range.end - chunk.range.start : opened.size,
        openCsvOutput: (location) => open(location, JOBS['csv-validate'].contentType),
      })),
    };
    stored = await out.done;
  } catch (err) {
    opened.stream.destroy();
    await out.abort();
    throw err;
  } finally {
    current.clear();
  }
  const report = {
    job,
    ...stats,
    output: destination,
    bytesIn: counter.bytes,
    ...(chunk ? { range: { start: chunk.range.start, end: chunk.range.end } } : {}),
  };

  // The output is complete. Its row counts were only known now: S3 set its metadata when the upload began.
  if (job === 'csv-transform' || job === 'csv-validate') {
    // Both CSV jobs count rowsIn and rowsOut; csv-transform rejects nothing.
    const rows = stats as { rowsIn: number; rowsOut: number; rowsRejected?: number };
    Object.assign(metadata, {
      [OUTPUT_METADATA.rowsIn]: String(rows.rowsIn),
      [OUTPUT_METADATA.rowsOut]: String(rows.rowsOut),
      [OUTPUT_METADATA.rowsRejected]: String(rows.rowsRejected ?? 0),
    });
    // A chunk's part needs no copy: the merged output gets the file's counts, and the stats have the part's.
    if (output.kind === 's3' && s3 && !chunk) {
      const replaced = await replaceMetadata(
        output,
        { contentType: JOBS[job].contentType, metadata },
        stored,
        s3,
      );
      if (!replaced) {
        const why = 'the output is too large for CopyObject: only the statistics have its row counts';
        log.warn(why, { destination, bytes: stored.bytes });
      }
    }
  }
  // Last: the statistics tell whoever waits for them that everything else is in place.
  if (spec.stats) {
    const handle = await open(spec.stats, STATS_CONTENT_TYPE);
    try {
      handle.stream.end(`${JSON.stringify(report)}\n`);
      await handle.done;
    } catch (err) {
      await handle.abort();
      throw err;
    } finally {
      current.clear();
    }
  }
  return report;
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
