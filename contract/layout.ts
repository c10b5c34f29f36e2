/**
 * The layout of the output bucket: deterministic keys for outputs, rejects, reports and chunked runs, so that a
 * retry or a rerun overwrites the same objects; and where the console's uploads go in the input bucket. Pure,
 * so the workflow sandbox can use it too; infra/ grants each process its prefixes.
 */

/** Where the console's uploads go in the input bucket (`uploads/YYYY-MM-DD/NAME`). */
export const UPLOADS_PREFIX = 'uploads/';

/** Processed files (`outputs/KEY`, `outputs/KEY.pdf`). */
export const OUTPUTS_PREFIX = 'outputs/';
/** Rows csv-validate rejected, beside the output (`rejects/outputs/KEY`). */
export const REJECTS_PREFIX = 'rejects/';
/** Per-file reports (`reports/YYYY-MM-DD/KEY.json`) and failure reports (`reports/failures/KEY.json`). */
export const REPORTS_PREFIX = 'reports/';
/** Where chunked runs keep their plan and parts in the output bucket (expired after a day by infra/). */
export const STAGING_PREFIX = 'staging/';

/** One chunk's objects under the file's staging folder; the statistics are written last. */
export function stagingKeys(prefix: string, index: number) {
  const n = String(index + 1).padStart(5, '0');
  return {
    part: `${prefix}part-${n}.csv`,
    rejects: `${prefix}rejects-${n}.csv`,
    stats: `${prefix}stats-${n}.json`,
  };
}

/**
 * Where a Batch or ECS run of a whole file writes its statistics, which the worker cannot read from the
 * container's stdout; deleted once the report holds them.
 */
export const statsKeyFor = (outputKey: string) => `${STAGING_PREFIX}stats/${outputKey}.json`;

/** The folder of a day's per-file reports (`YYYY-MM-DD`, the day of their `processedAt`). */
export const reportsFolderFor = (date: string) => `${REPORTS_PREFIX}${date}/`;

/** A file's report: by day, then by source key, so a rerun on the same day overwrites it. */
export const reportKeyFor = (sourceKey: string, processedAt: string) =>
  `${reportsFolderFor(processedAt.slice(0, 10))}${sourceKey}.json`;

/**
 * The daily reports (`reports/daily/YYYY-MM-DD.json` and `.csv`): beside the per-file date folders
 * (`reports/YYYY-MM-DD/`), which `daily` can never be.
 */
export const DAILY_REPORTS_PREFIX = `${REPORTS_PREFIX}daily/`;

/** A day's report, as JSON and as a CSV summary; a second run for the same day overwrites both. */
export const dailyReportKeys = (date: string) => ({
  json: `${DAILY_REPORTS_PREFIX}${date}.json`,
  csv: `${DAILY_REPORTS_PREFIX}${date}.csv`,
});

/** Where failed runs report, by source key: removed once the same version is processed. */
export const FAILURE_REPORTS_PREFIX = `${REPORTS_PREFIX}failures/`;

/** A file's failure report: a rerun overwrites it, a successful run of the same version removes it. */
export const failureReportKey = (sourceKey: string) => `${FAILURE_REPORTS_PREFIX}${sourceKey}.json`;

/** Where csv-validate puts the rows it rejected from the output `outputKey`. */
export const rejectsKeyFor = (outputKey: string) => `${REJECTS_PREFIX}${outputKey}`;

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
  /** A chunked file's merged output: how many chunks it was made of, and how many failed (tolerated). */
  chunks: 'chunks',
  chunksFailed: 'chunks-failed',
} as const;

/** Where an output comes from: the job, its stamp, the source (a local path as its key), a chunk's range. */
export interface OutputOrigin {
  job: string;
  processedAt: string;
  source: { bucket?: string; key: string; etag?: string; versionId?: string };
  range?: { start: number; end: number };
}

/**
 * The {@link OUTPUT_METADATA} of an output: its origin, and once they are known the row counts of a CSV job
 * (the processor's output, a chunk's part, a chunked file's merged output).
 */
export function outputMetadata(
  origin: OutputOrigin,
  rows?: { rowsIn: number; rowsOut: number; rowsRejected: number },
): Record<string, string> {
  const { source, range } = origin;
  return {
    [OUTPUT_METADATA.job]: origin.job,
    [OUTPUT_METADATA.processedAt]: origin.processedAt,
    ...(source.bucket ? { [OUTPUT_METADATA.sourceBucket]: source.bucket } : {}),
    [OUTPUT_METADATA.sourceKey]: source.key,
    ...(source.etag ? { [OUTPUT_METADATA.sourceEtag]: source.etag } : {}),
    ...(source.versionId ? { [OUTPUT_METADATA.sourceVersionId]: source.versionId } : {}),
    ...(range
      ? { [OUTPUT_METADATA.rangeStart]: String(range.start), [OUTPUT_METADATA.rangeEnd]: String(range.end) }
      : {}),
    ...(rows
      ? {
          [OUTPUT_METADATA.rowsIn]: String(rows.rowsIn),
          [OUTPUT_METADATA.rowsOut]: String(rows.rowsOut),
          [OUTPUT_METADATA.rowsRejected]: String(rows.rowsRejected),
        }
      : {}),
  };
}

/** User metadata of an input object (`x-amz-meta-*`) that tells the workflow how to process it. */
export const INPUT_METADATA = {
  /** `pool` routes to AWS Batch (Fargate Spot); anything else to an ECS Fargate task. */
  processorType: 'processor-type',
  /** The job to run, instead of the one the key's extension selects. */
  job: 'job',
  /** Chunk size of a large CSV file: bytes, or a number with KiB, MiB or GiB. */
  chunkSize: 'chunk-size',
  /** The field separator of a CSV file (`,` `;` `|` or `tab`): over the schema's, `,` by default. */
  csvDelimiter: 'csv-delimiter',
  /**
   * The schema a CSV file is checked against (csv-validate, csv-to-dynamodb), instead of the schema file's
   * default; with no `job`, one that has a `table` loads the file into DynamoDB.
   */
  schema: 'schema',
  maxConcurrency: 'max-concurrency',
  toleratedFailureCount: 'tolerated-failure-count',
  toleratedFailurePercent: 'tolerated-failure-percent',
} as const;
