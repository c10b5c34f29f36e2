/**
 * The processor's container mode: a compute backend (AWS Batch, ECS, the local process) describes the run in
 * the environment alone: SOURCE_BUCKET, OBJECT_KEY, DEST_BUCKET, DEST_KEY, JOB, …; csv-validate also reads
 * SCHEMA, SCHEMA_FILE, REJECTS_KEY and MAX_REJECTED_PERCENT, and csv-to-dynamodb DYNAMODB_TABLE too; the CSV jobs
 * CSV_DELIMITER; a chunk of a CSV file
 * RANGE_START, RANGE_END, CSV_HEADER, FIRST_ROW and FIRST_LINE; any job STATS_KEY. The lists below are every
 * variable the processor reads, in either mode, for whoever must set or check them (the deployment, the tests).
 */
import { ConfigError, loadConfig, type EnvName } from '../common/config';
import { validatesRows } from '../contract/jobs';
import { rejectsKeyFor } from '../contract/layout';
import {
  chunkRun,
  jobNamed,
  statsClash,
  tableFor,
  validateSpec,
  type ChunkNames,
  type RunSpec,
  type ValidateSpec,
} from './run-spec';
import type { Location } from './object-io';

/** A list of variables, typed by their names. */
const variables = <const T extends readonly EnvName[]>(...names: T): T => names;

/** What the processor reads in a container, whatever the job. */
export const PROCESSOR_VARIABLES = variables(
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
  'CSV_DELIMITER',
  'DYNAMODB_TABLE',
  'RANGE_START',
  'RANGE_END',
  'CSV_HEADER',
  'FIRST_ROW',
  'FIRST_LINE',
);

/** What the validating jobs read from the environment in both modes: the schema and threshold. */
export const SCHEMA_VARIABLES = variables('SCHEMA', 'SCHEMA_FILE', 'MAX_REJECTED_PERCENT');

/** What the validating jobs read in a container besides {@link PROCESSOR_VARIABLES}. */
export const CSV_VALIDATE_VARIABLES = variables('REJECTS_KEY', ...SCHEMA_VARIABLES);

/** What the command line (processors/cli.ts) reads from the environment, besides {@link SCHEMA_VARIABLES}. */
export const COMMAND_LINE_VARIABLES = variables(
  'AWS_REGION',
  'AWS_ENDPOINT_URL',
  'LOG_LEVEL',
  'DYNAMODB_TABLE',
);

const ENV_CHUNK_NAMES: ChunkNames = {
  range: 'RANGE_START and RANGE_END',
  start: 'RANGE_START',
  end: 'RANGE_END',
  header: 'CSV_HEADER',
  firstRow: 'FIRST_ROW',
  firstLine: 'FIRST_LINE',
};

/**
 * The run the environment describes.
 * @throws ConfigError for a missing, invalid or contradictory variable; InvalidInputError for an unknown
 *   JOB (their exit codes: contract/failures.ts).
 */
export function fromEnvironment(): RunSpec {
  const env = loadConfig('processor', PROCESSOR_VARIABLES);
  const job = jobNamed(env.JOB);
  const invalid = (problem: string) =>
    new ConfigError(
      `processor: invalid configuration: ${problem}. Set the variables right and start it again.`,
    );
  const chunk = chunkRun(
    job,
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
  const output: Location = { kind: 's3', bucket: env.DEST_BUCKET, key: env.DEST_KEY };
  let validate: ValidateSpec | undefined;
  if (validatesRows(job)) {
    const settings = loadConfig('processor', CSV_VALIDATE_VARIABLES);
    validate = validateSpec(
      { kind: 's3', bucket: env.DEST_BUCKET, key: settings.REJECTS_KEY ?? rejectsKeyFor(env.DEST_KEY) },
      settings,
    );
  }
  const table = tableFor(job, env.DYNAMODB_TABLE);
  let stats: Location | undefined;
  if (env.STATS_KEY !== undefined) {
    stats = { kind: 's3', bucket: env.DEST_BUCKET, key: env.STATS_KEY };
    if (statsClash(stats, output, validate)) {
      throw invalid(`STATS_KEY (${env.STATS_KEY}) must differ from DEST_KEY and REJECTS_KEY`);
    }
  }
  return {
    job,
    input: {
      kind: 's3',
      bucket: env.SOURCE_BUCKET,
      key: env.OBJECT_KEY,
      ...(env.SOURCE_ETAG ? { etag: env.SOURCE_ETAG } : {}),
      ...(env.SOURCE_VERSION_ID ? { versionId: env.SOURCE_VERSION_ID } : {}),
    },
    output,
    processedAt: env.PROCESSED_AT ?? new Date().toISOString(),
    aws: env,
    logLevel: env.LOG_LEVEL,
    ...(env.CSV_DELIMITER ? { delimiter: env.CSV_DELIMITER } : {}),
    ...(validate ? { validate } : {}),
    ...(table ? { table } : {}),
    ...(chunk ? { chunk } : {}),
    ...(stats ? { stats } : {}),
  };
}
