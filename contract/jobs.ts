/**
 * The processor jobs and the rules that pick one for an object. Pure code: it is shared by the workflow
 * (inside Temporal's sandbox), the activities and the processors.
 */
import { OUTPUTS_PREFIX } from './layout';

export interface JobSpec {
  /** Key suffixes (lower case) that select this job when the object has no `job` metadata. */
  extensions: readonly string[];
  /** Suffix of the output key. */
  outputExtension: string;
  /** Content-Type of the output object. */
  contentType: string;
}

export const JOBS = {
  'csv-transform': { extensions: ['.csv'], outputExtension: '.csv', contentType: 'text/csv; charset=utf-8' },
  'text-to-pdf': {
    extensions: ['.txt', '.md', '.log'],
    outputExtension: '.pdf',
    contentType: 'application/pdf',
  },
  // Chosen only by `job` metadata: a .csv key alone keeps meaning csv-transform.
  'csv-validate': { extensions: [], outputExtension: '.csv', contentType: 'text/csv; charset=utf-8' },
} as const satisfies Record<string, JobSpec>;

export type JobName = keyof typeof JOBS;
export const JOB_NAMES = Object.keys(JOBS) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.prototype.hasOwnProperty.call(JOBS, name);
}

/** The job named by `job` metadata if any, otherwise the one whose extension the key has; undefined if none. */
export function chooseJob(key: string, jobMetadata: string | undefined): string | undefined {
  if (jobMetadata !== undefined && jobMetadata !== '') return jobMetadata;
  const lower = key.toLowerCase();
  return JOB_NAMES.find((name) => JOBS[name].extensions.some((ext) => lower.endsWith(ext)));
}

/** Deterministic output key: a rerun overwrites the same object instead of adding one. */
export function outputKeyFor(key: string, job: JobName): string {
  const ext = JOBS[job].outputExtension;
  return `${OUTPUTS_PREFIX}${key}${key.toLowerCase().endsWith(ext) ? '' : ext}`;
}

/**
 * Processor exit codes (sysexits.h): 0 is success, these two are permanent (rerunning cannot help),
 * any other non-zero code is a transient failure worth retrying.
 */
export const EXIT_INVALID_INPUT = 65;
export const EXIT_INPUT_MISSING = 66;
export const PERMANENT_EXIT_CODES: readonly number[] = [EXIT_INVALID_INPUT, EXIT_INPUT_MISSING];

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

/** User metadata the processors put on every output, checked by the workflow before it acknowledges. */
export const OUTPUT_METADATA = {
  sourceBucket: 'source-bucket',
  sourceKey: 'source-key',
  sourceEtag: 'source-etag',
  sourceVersionId: 'source-version-id',
  job: 'job',
  processedAt: 'processed-at',
  /** A chunk's byte range of the source, `[range-start, range-end)`: only on the part a chunk run writes. */
  rangeStart: 'range-start',
  rangeEnd: 'range-end',
  /** Row counts of the CSV jobs (data rows: header and blank lines excluded); rows-in = rows-out + rows-rejected. */
  rowsIn: 'rows-in',
  rowsOut: 'rows-out',
  rowsRejected: 'rows-rejected',
} as const;
