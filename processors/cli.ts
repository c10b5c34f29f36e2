/**
 * The processor's command line, for a person (`npm run process -- …`) and the benchmark:
 *
 *   npm run process -- --job csv-transform IN OUT [--processed-at ISO]
 *   npm run process -- --job csv-validate IN OUT [--rejects PATH] [--schema NAME]
 *   DYNAMODB_TABLE=T npm run process -- --job csv-to-dynamodb IN OUT [--rejects PATH] [--schema NAME]
 *   chunk options (CSV jobs): --range START-END [--header TEXT --first-row N --first-line N]
 *   CSV jobs: --delimiter , | ; | '|' | tab
 *   any job: --stats PATH
 *
 * IN, OUT and PATH are local paths or s3:// URIs. From the environment it reads only AWS_REGION,
 * AWS_ENDPOINT_URL and LOG_LEVEL, for csv-validate and csv-to-dynamodb SCHEMA, SCHEMA_FILE and
 * MAX_REJECTED_PERCENT, and for csv-to-dynamodb DYNAMODB_TABLE.
 */
import { z } from 'zod';
import { loadConfig } from '../common/config';
import { ExplainedError, FAILURES } from '../contract/failures';
import {
  CSV_DELIMITER_CHOICES,
  JOB_NAMES,
  isCsvJob,
  parseCsvDelimiter,
  validatesRows,
} from '../contract/jobs';
import { COMMAND_LINE_VARIABLES, SCHEMA_VARIABLES } from './environment';
import { describeLocation, parseLocation, type Location } from './object-io';
import {
  chunkRun,
  defaultRejects,
  jobNamed,
  statsClash,
  tableFor,
  validateSpec,
  type ChunkNames,
  type ChunkSettings,
  type RunSpec,
} from './run-spec';

/** The command line is wrong: its message names the problem and ends with {@link USAGE}. {@link FAILURES}' usage. */
export class UsageError extends ExplainedError {
  override name = 'UsageError';
  override readonly exitCode = FAILURES.usage.exitCodes.USAGE;
}

export const USAGE = `usage: npm run process -- --job <${JOB_NAMES.join('|')}> IN OUT [--processed-at ISO-8601]
                          [--rejects PATH] [--schema NAME] [--delimiter SEP] [--stats PATH]
                          [--range START-END [--header TEXT] [--first-row N] [--first-line N]]
  IN, OUT, PATH: local paths or s3://bucket/key URIs
  csv-validate, csv-to-dynamodb: --rejects defaults to OUT with .rejects.csv for a file, rejects/KEY for
                s3://BUCKET/KEY; --schema to the default of the schema file (SCHEMA_FILE, else the built-in
                config/schemas.json); csv-to-dynamodb loads the valid rows into DYNAMODB_TABLE
  --stats:      also write the JSON statistics there, once the output is complete
  CSV jobs:     --delimiter, the field separator: ${CSV_DELIMITER_CHOICES} (default: the schema's, else ",")
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
  '--delimiter',
  '--range',
  '--header',
  '--first-row',
  '--first-line',
] as const;
type ValueOption = (typeof VALUE_OPTIONS)[number];

function isValueOption(arg: string): arg is ValueOption {
  return (VALUE_OPTIONS as readonly string[]).includes(arg);
}

const CLI_CHUNK_NAMES: ChunkNames = {
  range: '--range',
  start: '--range START',
  end: '--range END',
  header: '--header',
  firstRow: '--first-row',
  firstLine: '--first-line',
};

const usage = (problem: string) => new UsageError(`${problem}\n${USAGE}`);

/**
 * The run the arguments (without node and the script) describe.
 * @throws UsageError for misuse; InvalidInputError for an unknown job; ConfigError for a bad schema or
 *   environment variable (their exit codes: contract/failures.ts).
 */
export function parseCli(argv: readonly string[]): RunSpec {
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
    '--job': jobOption,
    '--processed-at': processedAt,
    '--rejects': rejects,
    '--schema': schema,
    '--stats': stats,
    '--delimiter': delimiterOption,
  } = options;
  if (jobOption === undefined) throw usage('--job is required');
  if (positional.length !== 2) throw usage(`expected IN and OUT, got ${positional.length} argument(s)`);
  if (processedAt !== undefined && !z.iso.datetime().safeParse(processedAt).success) {
    throw usage(`--processed-at ${JSON.stringify(processedAt)} is not an ISO-8601 UTC timestamp`);
  }
  const job = jobNamed(jobOption);
  if (!validatesRows(job) && (rejects !== undefined || schema !== undefined)) {
    throw usage('--rejects and --schema are options of csv-validate and csv-to-dynamodb only');
  }
  const chunk = chunkRun(job, cliChunkSettings(options), CLI_CHUNK_NAMES, usage);
  const delimiter = delimiterOption === undefined ? undefined : parseCsvDelimiter(delimiterOption);
  if (delimiterOption !== undefined && (!isCsvJob(job) || delimiter === undefined)) {
    throw usage(
      isCsvJob(job)
        ? `--delimiter ${JSON.stringify(delimiterOption)} is not a separator: expected ${CSV_DELIMITER_CHOICES}`
        : '--delimiter is an option of the CSV jobs only',
    );
  }
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
  const validate = validatesRows(job)
    ? validateSpec(rejectsAt ?? defaultRejects(output), loadConfig('processor', SCHEMA_VARIABLES), schema)
    : undefined;
  if (statsAt && statsClash(statsAt, output, validate)) {
    throw usage('--stats must differ from OUT and the rejects file');
  }
  const env = loadConfig('processor', COMMAND_LINE_VARIABLES);
  const table = tableFor(job, env.DYNAMODB_TABLE);
  return {
    job,
    input,
    output,
    processedAt: processedAt ?? new Date().toISOString(),
    aws: env,
    logLevel: env.LOG_LEVEL,
    ...(delimiter ? { delimiter } : {}),
    ...(validate ? { validate } : {}),
    ...(table ? { table } : {}),
    ...(chunk ? { chunk } : {}),
    ...(statsAt ? { stats: statsAt } : {}),
  };
}

/** Reads `--range START-END`, `--header`, `--first-row` and `--first-line`. */
function cliChunkSettings(options: Partial<Record<ValueOption, string>>): ChunkSettings {
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
