/** The objects the processes pass each other: a notified object, the version being processed, a chunk of it. */

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
