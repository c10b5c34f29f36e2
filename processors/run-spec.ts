/**
 * One processor run, whichever mode described it (the container environment, processors/environment.ts, or
 * the command line, processors/cli.ts), and the checks both modes make of what they were given.
 *
 * A chunk is the byte range [START, END) of a CSV file, made of whole records. The first chunk starts at 0 and
 * is processed like a file that stops at END; any other has no header: it is given (CSV_HEADER / --header),
 * only its records are written, and FIRST_ROW / FIRST_LINE (--first-row / --first-line) make the row and line
 * numbers of its rejects and errors the file's. So the outputs of a file's chunks, concatenated in order, are
 * byte for byte the output of the whole file, and so are the rejects files. csv-validate leaves the
 * rejected-row threshold of a chunked file to its caller, who sums the chunks' counts.
 */
import type { AwsSettings } from '../common/aws';
import { ConfigError } from '../common/config';
import { InvalidInputError } from '../contract/failures';
import {
  CSV_DELIMITER_NAMES,
  DEFAULT_CSV_DELIMITER,
  JOB_NAMES,
  isCsvJob,
  isJobName,
  type CsvDelimiter,
  type JobName,
} from '../contract/jobs';
import { rejectsKeyFor } from '../contract/layout';
import type { ChunkRange } from '../contract/objects';
import { describeLocation, type Location } from './object-io';
import { loadSchema, type CsvSchema } from '../common/schema';

/** One job run, whichever mode described it. */
export interface RunSpec {
  job: JobName;
  input: Location;
  output: Location;
  processedAt: string;
  aws: AwsSettings;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** CSV jobs: the field separator given (the object's metadata), over the schema's. */
  delimiter?: CsvDelimiter;
  /** The jobs that check rows against a schema (csv-validate, csv-to-dynamodb). */
  validate?: ValidateSpec;
  /** csv-to-dynamodb: the DynamoDB table its rows go to (DYNAMODB_TABLE). */
  table?: string;
  /** CSV jobs: process only this chunk of the input. */
  chunk?: ChunkRun;
  /** Where the statistics are also written, as JSON. */
  stats?: Location;
}

/** What a validating job (csv-validate, csv-to-dynamodb) needs besides its input and output. */
export interface ValidateSpec {
  schema: CsvSchema;
  /** Where the rejects file goes. */
  rejects: Location;
  /** Overrides the schema's threshold. */
  maxRejectedPercent: number | undefined;
}

/** The run of one chunk of a CSV file: its range of whole records and where it sits in the file. */
export interface ChunkRun extends ChunkRange {
  /** The file's header record, for a range that does not start at 0 (which has none). */
  header?: string;
  /** How the settings were given (variables or options), for messages. */
  names: ChunkNames;
}

/** The names of the chunk settings where they come from. */
export interface ChunkNames {
  /** Both ends of the range. */
  range: string;
  start: string;
  end: string;
  header: string;
  firstRow: string;
  firstLine: string;
}

/** The chunk settings as given, before {@link chunkRun} checks that they agree. */
export interface ChunkSettings {
  start: number | undefined;
  end: number | undefined;
  header: string | undefined;
  firstRow: number;
  firstLine: number;
}

/** What csv-validate reads from the environment in both modes (see `SCHEMA_VARIABLES` of ./environment). */
export interface SchemaSettings {
  SCHEMA?: string | undefined;
  SCHEMA_FILE?: string | undefined;
  MAX_REJECTED_PERCENT?: number | undefined;
}

/**
 * The job of that name.
 * @throws InvalidInputError naming the known jobs: the object asks for a job there is not (exit code 65).
 */
export function jobNamed(job: string): JobName {
  if (isJobName(job)) return job;
  throw new InvalidInputError(`unknown job ${JSON.stringify(job)}; known jobs: ${JOB_NAMES.join(', ')}`);
}

/**
 * Checks the chunk settings against each other and the job.
 * @param fail makes the error for a problem (a configuration error, or a usage error on the command line).
 * @returns undefined when no range is given: the whole input is processed.
 */
export function chunkRun(
  job: JobName,
  given: ChunkSettings,
  names: ChunkNames,
  fail: (problem: string) => Error,
): ChunkRun | undefined {
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
  if (!isCsvJob(job)) {
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
  return { start, end, firstRow, firstLine, header, names };
}

/**
 * The separator a CSV run reads: the one given (CSV_DELIMITER / --delimiter, from the object's metadata), else
 * the schema's, else a comma.
 * @throws InvalidInputError for a chunk given none whose schema names another than a comma: its file was
 *   planned by a scan that knew only the object's metadata, so with a comma, and its ranges may cut records.
 */
export function csvDelimiterOf(spec: RunSpec): CsvDelimiter {
  if (spec.delimiter) return spec.delimiter;
  const schema = spec.validate?.schema;
  if (!schema?.delimiter) return DEFAULT_CSV_DELIMITER;
  if (spec.chunk && schema.delimiter !== DEFAULT_CSV_DELIMITER) {
    const name = CSV_DELIMITER_NAMES[schema.delimiter];
    throw new InvalidInputError(
      `schema ${JSON.stringify(schema.name)} separates fields with "${name}", but this chunk was planned with ` +
        'the default "," since its object names no separator. ' +
        `Set x-amz-meta-csv-delimiter=${name} on the object and upload it again, so that its chunks are planned ` +
        `with "${name}" too (CSV_DELIMITER or --delimiter for a chunk run by hand).`,
    );
  }
  return schema.delimiter;
}

/** Next to the output: `OUT.rejects.csv` for a file (`.csv` replaced), `rejects/KEY` in the same bucket. */
export function defaultRejects(output: Location): Location {
  return output.kind === 's3'
    ? { kind: 's3', bucket: output.bucket, key: rejectsKeyFor(output.key) }
    : { kind: 'file', path: `${output.path.replace(/\.csv$/i, '')}.rejects.csv` };
}

/**
 * The settings of csv-validate: the schema is loaded here, at start-up, so that a bad schema file stops the
 * run before it reads anything.
 * @param schemaName from the command line; otherwise SCHEMA, otherwise the schema file's default.
 */
export function validateSpec(rejects: Location, settings: SchemaSettings, schemaName?: string): ValidateSpec {
  return {
    schema: loadSchema(settings.SCHEMA_FILE, schemaName ?? settings.SCHEMA),
    rejects,
    maxRejectedPercent: settings.MAX_REJECTED_PERCENT,
  };
}

/** Whether the statistics would overwrite the output or the rejects file: each must have a place of its own. */
export function statsClash(stats: Location, output: Location, validate: ValidateSpec | undefined): boolean {
  const taken = [output, validate?.rejects].flatMap((l) => (l ? [describeLocation(l)] : []));
  return taken.includes(describeLocation(stats));
}

/**
 * csv-to-dynamodb's table, from DYNAMODB_TABLE.
 * @throws ConfigError when the job has none: there is nowhere to load its rows.
 */
export function tableFor(job: JobName, table: string | undefined): string | undefined {
  if (job !== 'csv-to-dynamodb') return undefined;
  if (table) return table;
  throw new ConfigError(
    'processor: csv-to-dynamodb has no table: set DYNAMODB_TABLE to the DynamoDB table its rows go to ' +
      '(the worker passes its own DYNAMODB_TABLE on) and run it again.',
  );
}
