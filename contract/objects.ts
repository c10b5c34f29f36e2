/** The objects the processes pass each other: a notified object, the version being processed, a chunk of it. */
import type { CsvDelimiter } from './jobs';

/** One S3 object as a notification names it: a version by its ETag, its versionId, or both. */
export interface ObjectRef {
  bucket: string;
  key: string;
  /** ETag without quotes. */
  etag?: string;
  /** S3 versionId on a versioned bucket. */
  versionId?: string;
  size?: number;
}

/** The exact object version a run processes, as HeadObject found it: every reader asks S3 for this one. */
export interface SourceVersion {
  bucket: string;
  key: string;
  /** ETag without quotes. */
  etag: string;
  /** S3 versionId on a versioned bucket. */
  versionId?: string;
}

/**
 * The CSV schema an object is processed with, as its inspection found it: the one its `x-amz-meta-schema` names,
 * else the schema file's default (common/schema.ts).
 */
export interface ObjectSchema {
  name: string;
  /** Named by the object's metadata, not the default: the processor is told to use it. */
  named: boolean;
  /** The schema has a `table`: a file that names it and no job is loaded into DynamoDB (csv-to-dynamodb). */
  loadsTable: boolean;
  /** The schema's field separator, which the chunk planner needs as much as the processor does. */
  delimiter?: CsvDelimiter;
}

/**
 * A byte range `[start, end)` of a CSV file made of whole records, and where it sits in the file: the data row
 * number of its first record and the line number of its first byte (both 1 where the file starts).
 */
export interface ChunkRange {
  start: number;
  end: number;
  firstRow: number;
  firstLine: number;
}

/** A chunk of a file's plan: its range and its place among the chunks (0-based). */
export interface PlannedChunk extends ChunkRange {
  index: number;
}

/** An ETag as S3 sends it (`"…"`), without its quotes: the form every contract carries. */
export function unquoteEtag(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}
