/**
 * What the processors report and what the workflow writes about a file: the processor's statistics (its JSON
 * line on stdout and its STATS_KEY object), the sum of a chunked file's statistics, the file's report
 * (`reports/YYYY-MM-DD/KEY.json`) and a failed run's report (`reports/failures/KEY.json`).
 */
import type { JobName } from './jobs';
import type { ObjectRef, SourceVersion } from './objects';
import type { ChunkCounts, ChunkOutcome, Route } from './workflow';

/** Exact statistics of the valid values of a numeric column; `sum`, `min` and `max` are decimal strings. */
export interface NumericStats {
  count: number;
  sum: string;
  min: string | null;
  max: string | null;
}

/** Count and exact sum of a numeric column's values for one value of its `totalsBy` column (a currency). */
export interface ValueTotal {
  count: number;
  sum: string;
}

/** Characters a PDF shows as U+FFFD because no font has them: how many, and per Unicode script. */
export interface MissingGlyphs {
  count: number;
  scripts: Record<string, number>;
}

/** What csv-to-dynamodb wrote: the table, items written, items sent again (unprocessed or throttled). */
export interface DynamoDbLoad {
  table: string;
  itemsWritten: number;
  itemsRetried: number;
}

/** A processor run's statistics; which fields are there depends on the job. */
export interface ProcessorStats {
  job: JobName;
  /** Where the output went (path or `s3://` URI). */
  output: string;
  bytesIn: number;
  /** The chunk's byte range, for a chunk of a CSV file. */
  range?: { start: number; end: number };
  /** CSV jobs: data records read, written and (csv-validate) rejected; `rowsIn = rowsOut + rowsRejected`. */
  rowsIn?: number;
  rowsOut?: number;
  rowsRejected?: number;
  /** CSV jobs: fields holding a quote without being quoted (`12" pipe`), read literally. */
  bareQuoteFields?: number;
  /** csv-validate: the schema, the threshold in percent, failed checks per rule, where the rejects went. */
  schema?: string;
  maxRejectedPercent?: number;
  rejectsByRule?: Record<string, number>;
  rejects?: string;
  /** csv-validate: per numeric column, over the valid records. */
  columns?: Record<string, NumericStats>;
  /** csv-validate: per numeric column with `totalsBy`, per value of that column. */
  totals?: Record<string, Record<string, ValueTotal>>;
  /** csv-to-dynamodb: the table, and the items written and sent again. */
  dynamodb?: DynamoDbLoad;
  /** text-to-pdf: lines read, pages written, invalid UTF-8 sequences replaced, characters without a glyph. */
  linesIn?: number;
  pages?: number;
  invalidSequences?: number;
  missingGlyphs?: MissingGlyphs;
}

/** The statistics of a whole CSV file, summed from those of its chunks (what one run would report). */
export interface Summary {
  rowsIn: number;
  rowsOut: number;
  rowsRejected: number;
  bareQuoteFields: number;
  bytesIn: number;
  maxRejectedPercent?: number;
  rejectsByRule: Record<string, number>;
  columns: Record<string, NumericStats>;
  totals: Record<string, Record<string, ValueTotal>>;
  /** csv-to-dynamodb: summed over the chunks. */
  dynamodb?: DynamoDbLoad;
}

/** An object the workflow checked in the output bucket. */
export interface VerifiedOutput {
  bucket: string;
  key: string;
  size: number;
}

/** One chunk in a file's report. */
export interface ChunkReportEntry extends ChunkOutcome {
  start: number;
  end: number;
}

/** The chunks in a file's report: the counts, the chunk size, and each chunk. */
export interface ChunksReport extends ChunkCounts {
  chunkSize: number;
  /** The staging folder kept for a redrive, when chunks failed. */
  staging?: string;
  list: ChunkReportEntry[];
}

/** A processed file's report; the activity that writes it adds the workflow ID and run ID. */
export interface FileReport {
  status: 'processed' | 'processed-with-failed-chunks';
  object: SourceVersion & { size: number };
  job: JobName;
  route: Route;
  processorType: string;
  processedAt: string;
  /**
   * Seconds from the workflow's start to its finish step (retries, waits for capacity and chunks included):
   * what the daily report's percentiles are made of.
   */
  durationSeconds: number;
  output: VerifiedOutput;
  /** csv-validate: the rejects file. */
  rejects?: { bucket: string; key: string };
  /** CSV jobs. */
  rows?: { in: number; out: number; rejected: number };
  /** CSV jobs: fields holding a quote without being quoted (`12" pipe`), read literally. */
  bareQuoteFields?: number;
  rejectsByRule?: Record<string, number>;
  columns?: Record<string, NumericStats>;
  totals?: Record<string, Record<string, ValueTotal>>;
  /** csv-to-dynamodb: the table, the items written, rejected (its rows' rejects) and sent again. */
  dynamodb?: DynamoDbLoad & { itemsRejected: number };
  chunks: ChunksReport;
  /** text-to-pdf. */
  pages?: number;
  lines?: number;
  invalidSequences?: number;
  missingGlyphs?: MissingGlyphs;
}

/** What a failed run leaves behind for people: why, for which object; the activity adds the workflow and time. */
export interface FailureReport {
  object: ObjectRef;
  type: string;
  message: string;
  /** `dead-letter` (permanent) or `redelivery` (transient). */
  disposition: 'dead-letter' | 'redelivery';
}

/** `1,234,567`: a count as people read it. */
export const formatCount = (n: number): string => n.toLocaleString('en-US');

/**
 * csv-validate's threshold, the one check of it: when more than `limit` percent of the rows read were rejected,
 * what happened (`6 of 100 rows (6.00%) were rejected, more than the 5% allowed`) and the failed checks
 * (`decimal 6, currency 2`). The processor applies it to what it read, the workflow to a chunked file's sum.
 */
export function excessRejects(
  counts: Pick<Summary, 'rowsIn' | 'rowsRejected' | 'rejectsByRule'>,
  limit: number,
): { share: string; rules: string } | undefined {
  const { rowsIn, rowsRejected } = counts;
  if (rowsRejected * 100 <= limit * rowsIn) return undefined;
  const percent = ((rowsRejected * 100) / rowsIn).toFixed(2);
  return {
    share: `${formatCount(rowsRejected)} of ${formatCount(rowsIn)} rows (${percent}%) were rejected, more than the ${limit}% allowed`,
    rules: Object.entries(counts.rejectsByRule)
      .map(([rule, n]) => `${rule} ${formatCount(n)}`)
      .join(', '),
  };
}
