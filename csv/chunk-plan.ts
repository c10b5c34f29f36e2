/**
 * Chunk planning for large CSV files: byte ranges that end exactly on record boundaries, found by a real scan
 * of the quote state (a newline inside a quoted field never ends a chunk). The plan is small data: offsets
 * and counts only, never file content. And the options a CSV job runs one of those chunks with
 * ({@link CsvChunkOptions}).
 */
import type { CsvDelimiter } from '../contract/jobs';
import type { ChunkRange } from '../contract/objects';
import { countLf, CsvScanner } from './scanner';
import { stripBom, UTF8_BOM } from './streams';

/** S3 assembles at most this many parts into one object: a plan never has more chunks. */
export const MAX_CHUNKS = 10_000;

export interface ChunkPlan {
  /** Total bytes of the file. */
  size: number;
  /** Bytes `[0, headerEnd)` are the BOM (if any), the header record and its terminator. */
  headerEnd: number;
  /** The header record's text, without BOM and terminator (empty when the file has no record). */
  header: string;
  /** Data rows of the whole file. */
  rows: number;
  /** The chunk size used: the one asked for, or larger when that would have made more than {@link MAX_CHUNKS}. */
  chunkSize: number;
  /**
   * Contiguous ranges covering the file. The first starts at 0 and so holds the BOM and the header; the
   * others start on a record. One chunk for a file without data rows, none for an empty file.
   */
  chunks: ChunkRange[];
}

/**
 * Options of the CSV jobs for a chunk: whole records cut from a file at record boundaries, processed on their
 * own. The concatenated outputs of a file's chunks, in order, are the output of the whole file.
 */
export interface CsvChunkOptions {
  /**
   * The file's header record (UTF-8, without BOM and terminator) when the input is a chunk that does not start
   * the file: the input then holds data records only, and the job writes no header (nor a BOM). Undefined: the
   * input starts the file, with its header.
   */
  header?: string | undefined;
  /** 1-based data row number (header and blank lines not counted) of the input's first record. @default 1 */
  firstRow?: number | undefined;
  /** 1-based file line number of the input's first byte. @default 1 */
  firstLine?: number | undefined;
}

/**
 * Scans `source` once and plans chunks of at least `chunkSize` bytes (the last may be smaller): each ends at
 * the first record boundary at or after its start plus `chunkSize`.
 * @param size the file's size, when known, so that the chunk size can be raised to stay within MAX_CHUNKS.
 * @param delimiter the field separator, which decides where a quote opens a quoted field.
 * @throws InvalidInputError when the CSV is broken (e.g. an unterminated quote), naming the line.
 */
export async function planChunks(
  source: AsyncIterable<unknown>,
  chunkSize: number,
  name: string,
  size?: number,
  delimiter?: CsvDelimiter,
): Promise<ChunkPlan> {
  if (!(chunkSize > 0)) throw new RangeError(`chunk size must be positive, got ${chunkSize}`);
  const effectiveSize = Math.max(chunkSize, size === undefined ? 0 : Math.ceil(size / MAX_CHUNKS));
  let offset = 0; // absolute offset of the piece being scanned
  let linesBefore = 0; // LFs before that piece: every LF, quoted or not, ends a line
  let current: Buffer | undefined;
  let header: string | undefined;
  let headerEnd = 0;
  let rows = 0;
  let cursor: ChunkRange = { start: 0, end: 0, firstRow: 1, firstLine: 1 };
  let lastRecordEnd = 0;
  const chunks: ChunkRange[] = [];
  const headerPieces: Buffer[] = [];

  const scanner = new CsvScanner(
    name,
    {
      partial: (chunk, start, end) => {
        if (header === undefined) headerPieces.push(Buffer.from(chunk.subarray(start, end)));
      },
      record: (chunk, start, end, next) => {
        // The scanner hands a CRLF it held back across two pieces as a buffer of its own: its LF is the
        // first byte of the current piece.
        const inPiece = chunk === current ? next : chunk.length === 0 ? 0 : 1;
        const at = offset + inPiece;
        lastRecordEnd = at;
        if (header === undefined) {
          header = Buffer.concat([...headerPieces, chunk.subarray(start, end)]).toString('utf8');
          headerEnd = at;
          return;
        }
        rows++;
        if (at - cursor.start >= effectiveSize) {
          chunks.push({ ...cursor, end: at });
          cursor = {
            start: at,
            end: 0,
            firstRow: rows + 1,
            firstLine: 1 + linesBefore + (current ? countLf(current, 0, inPiece) : 0),
          };
        }
      },
    },
    1,
    delimiter,
  );
  for await (const piece of stripBom(source, () => (offset = UTF8_BOM.length))) {
    current = piece;
    scanner.push(piece);
    offset += piece.length;
    linesBefore += countLf(piece, 0, piece.length);
  }
  current = undefined;
  scanner.finish();
  const total = offset;
  const plan = { size: total, headerEnd, header: header ?? '', rows, chunkSize: effectiveSize };
  if (rows === 0) {
    const whole = total > 0 ? [{ start: 0, end: total, firstRow: 1, firstLine: 1 }] : [];
    return { ...plan, headerEnd: header === undefined ? total : headerEnd, chunks: whole };
  }
  // Bytes after the last record are blank lines: they belong to the last chunk rather than one of their own.
  if (lastRecordEnd > cursor.start) chunks.push({ ...cursor, end: total });
  else chunks[chunks.length - 1]!.end = total;
  return { ...plan, chunks };
}
