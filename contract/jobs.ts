/**
 * The processor jobs and the rules that pick one for an object. Pure code: it is shared by the workflow
 * (inside Temporal's sandbox), the activities and the processors.
 */
import { OUTPUTS_PREFIX } from './layout';
import type { ObjectSchema } from './objects';

export interface JobSpec {
  /** Key suffixes (lower case) that select this job when the object has no `job` metadata. */
  extensions: readonly string[];
  /** Suffix of the output key. */
  outputExtension: string;
  /** Content-Type of the output object. */
  contentType: string;
  /** A CSV job: its input is scanned, split into chunks when large, and its rows counted and checked. */
  csv: boolean;
  /**
   * Checks each row against a schema (common/schema.ts): the valid rows are its output, the others its
   * rejects file (`rejects/KEY`).
   */
  validates: boolean;
}

/** Content-Type of every CSV output (outputs, rejects). */
export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';

export const JOBS = {
  'csv-transform': {
    extensions: ['.csv'],
    outputExtension: '.csv',
    contentType: CSV_CONTENT_TYPE,
    csv: true,
    validates: false,
  },
  'text-to-pdf': {
    extensions: ['.txt', '.md', '.log'],
    outputExtension: '.pdf',
    contentType: 'application/pdf',
    csv: false,
    validates: false,
  },
  // Chosen only by `job` metadata: a .csv key alone keeps meaning csv-transform.
  'csv-validate': {
    extensions: [],
    outputExtension: '.csv',
    contentType: CSV_CONTENT_TYPE,
    csv: true,
    validates: true,
  },
  // csv-validate's checks, then each valid row an item of the DynamoDB table (DYNAMODB_TABLE); its output is
  // the rows it loaded. Chosen only by `job` metadata.
  'csv-to-dynamodb': {
    extensions: [],
    outputExtension: '.csv',
    contentType: CSV_CONTENT_TYPE,
    csv: true,
    validates: true,
  },
} as const satisfies Record<string, JobSpec>;

export type JobName = keyof typeof JOBS;
export const JOB_NAMES = Object.keys(JOBS) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.prototype.hasOwnProperty.call(JOBS, name);
}

/** The jobs that read CSV. */
export type CsvJobName = { [J in JobName]: (typeof JOBS)[J]['csv'] extends true ? J : never }[JobName];

export function isCsvJob(job: JobName): job is CsvJobName {
  return JOBS[job].csv;
}

/** Whether `job` checks its rows against a schema and writes a rejects file. */
export function validatesRows(job: JobName): boolean {
  return JOBS[job].validates;
}

/** The field separators the CSV jobs read: comma (the default), semicolon, tab and pipe. */
export type CsvDelimiter = ',' | ';' | '\t' | '|';

/** The default separator, when neither the object's metadata nor the job's schema names one. */
export const DEFAULT_CSV_DELIMITER: CsvDelimiter = ',';

/** How a separator is written in metadata, variables and schemas (`tab` for the tab). */
export const CSV_DELIMITER_NAMES: Record<CsvDelimiter, string> = {
  ',': ',',
  ';': ';',
  '\t': 'tab',
  '|': '|',
};

/** The accepted spellings of the separators, for messages. */
export const CSV_DELIMITER_CHOICES = '",", ";", "|" or "tab" (also "\\t")';

/**
 * The separator `value` names: `,`, `;`, `|`, or the tab as `tab`, `\t` (backslash and t) or itself.
 * @returns undefined for anything else.
 */
export function parseCsvDelimiter(value: string): CsvDelimiter | undefined {
  const v = value === '\t' ? value : value.trim();
  if (v === ',' || v === ';' || v === '|' || v === '\t') return v;
  return v.toLowerCase() === 'tab' || v === '\\t' ? '\t' : undefined;
}

/**
 * The job named by `job` metadata if any; otherwise csv-to-dynamodb for an object whose `schema` metadata names a
 * schema with a table; otherwise the one whose extension the key has; undefined if none.
 */
export function chooseJob(
  key: string,
  jobMetadata: string | undefined,
  schema: ObjectSchema | undefined,
): string | undefined {
  if (jobMetadata !== undefined && jobMetadata !== '') return jobMetadata;
  if (schema?.named && schema.loadsTable) return 'csv-to-dynamodb';
  const lower = key.toLowerCase();
  return JOB_NAMES.find((name) => JOBS[name].extensions.some((ext) => lower.endsWith(ext)));
}

/** Deterministic output key: a rerun overwrites the same object instead of adding one. */
export function outputKeyFor(key: string, job: JobName): string {
  const ext = JOBS[job].outputExtension;
  return `${OUTPUTS_PREFIX}${key}${key.toLowerCase().endsWith(ext) ? '' : ext}`;
}

/**
 * Tags of every Batch job and ECS task the worker starts, tying it to its file and workflow. A Batch job also
 * carries its job queue, by which the worker's role may terminate the pipeline's own jobs and no other.
 */
export const JOB_TAGS = {
  bucket: 'pipeline:bucket',
  key: 'pipeline:key',
  workflowId: 'pipeline:workflow-id',
  jobQueue: 'pipeline:job-queue',
} as const;
