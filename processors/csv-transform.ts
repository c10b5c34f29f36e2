/**
 * The `csv-transform` job: appends a `processed_at` column to every record of a CSV file.
 *
 * It never parses fields. The shared scanner ({@link CsvScanner}) finds record boundaries and this job copies
 * each record's original bytes through unchanged, inserting the new field just before the record terminator.
 * That keeps the job exact (quoting, ragged rows and odd encodings survive byte for byte) and fast, in
 * constant memory.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DEFAULT_CSV_DELIMITER, type CsvDelimiter } from '../contract/jobs';
import type { CsvChunkOptions } from '../csv/chunk-plan';
import { csvField } from '../csv/fields';
import { OutputBuilder } from '../csv/output-builder';
import { CsvScanner, type CsvRecordHandler } from '../csv/scanner';
import { writeAhead } from '../csv/streams';
import {
  parallelBlocks,
  type BlockJob,
  type BlockOutput,
  type BlockRequest,
  type TransformWorkerData,
} from './csv-blocks';
import { scanChunks } from './csv-stream';

/** Name of the appended column. */
export const PROCESSED_AT_COLUMN = 'processed_at';

/** Options of {@link csvTransform}; for a chunk of a file, see {@link CsvChunkOptions}. */
export interface CsvTransformOptions extends CsvChunkOptions {
  /** Value of the new column, the same on every record (ISO-8601 UTC). */
  processedAt: string;
  /** Name of the input (path or `s3://` URI), used in error messages. */
  source: string;
  /** The field separator, also of the new column. @default ',' */
  delimiter?: CsvDelimiter | undefined;
  /**
   * Worker threads to transform with, the main thread cutting the input into blocks of whole records and
   * writing their outputs in order. 1 (the default) transforms in the calling thread.
   */
  threads?: number;
}

/** Record counts of one {@link csvTransform} run. */
export interface CsvTransformResult {
  /** Data records read (header and blank lines excluded). */
  rowsIn: number;
  /** Data records written. */
  rowsOut: number;
  /** Fields with a quote inside, unquoted (`12" pipe`): kept as they are. */
  bareQuoteFields: number;
}

/** Copies each record with the new field inserted before its terminator. */
class AppendColumn implements CsvRecordHandler {
  rowsIn = 0;

  private readonly headerSuffix: Buffer;
  private readonly rowSuffix: Buffer;

  /** @param headerDone the input has no header record (a chunk after the first): every record is data. */
  constructor(
    readonly out: OutputBuilder,
    processedAt: string,
    delimiter: CsvDelimiter,
    private headerDone: boolean,
  ) {
    this.headerSuffix = Buffer.from(`${delimiter}${PROCESSED_AT_COLUMN}`);
    this.rowSuffix = Buffer.from(`${delimiter}${csvField(processedAt, delimiter)}`);
  }

  partial(chunk: Buffer, start: number, end: number): void {
    this.out.range(chunk, start, end);
  }

  record(chunk: Buffer, start: number, end: number, next: number): void {
    this.out.range(chunk, start, end);
    if (this.headerDone) {
      this.rowsIn++;
      this.out.bytes(this.rowSuffix);
    } else {
      this.headerDone = true;
      this.out.bytes(this.headerSuffix);
    }
    this.out.range(chunk, end, next);
  }
}

/**
 * Streams `input` to `output` with a `processed_at` column appended to the header and every data record,
 * then ends `output` and resolves once it has finished. Record bytes, terminators (LF or CRLF, per record)
 * and a leading UTF-8 BOM are kept as found; blank lines are dropped; ragged rows pass through, and so do
 * quotes inside unquoted fields, which are counted. The new field is separated by `opts.delimiter`.
 *
 * With `opts.header` the input is a chunk without header (nor BOM: bytes that look like one are data): only
 * its records are written, so that the chunks' outputs concatenate into the file's. `opts.firstLine` makes
 * line numbers in errors the file's.
 *
 * @throws InvalidInputError naming the 1-based line of broken quoting (an unterminated quoted field, a
 *   character after a closing quote), of a field longer than MAX_FIELD_BYTES or of a bare CR. `output` is then destroyed
 *   and may hold a prefix of the result: the caller discards it.
 */
export async function csvTransform(
  input: AsyncIterable<Buffer> | NodeJS.ReadableStream,
  output: Writable,
  opts: CsvTransformOptions,
): Promise<CsvTransformResult> {
  const delimiter = opts.delimiter ?? DEFAULT_CSV_DELIMITER;
  if ((opts.threads ?? 1) > 1) {
    const counts = { rowsIn: 0, bareQuoteFields: 0 };
    const job = transformJob({ ...opts, delimiter }, counts);
    const parallel = (source: AsyncIterable<unknown>) =>
      parallelBlocks(source, job, {
        ...opts,
        threads: opts.threads!,
        delimiter,
        header: opts.header,
        firstLine: opts.firstLine,
      });
    await pipeline(input, parallel, writeAhead(), output);
    return { rowsIn: counts.rowsIn, rowsOut: counts.rowsIn, bareQuoteFields: counts.bareQuoteFields };
  }
  const out = new OutputBuilder();
  const handler = new AppendColumn(out, opts.processedAt, delimiter, opts.header !== undefined);
  const scanner = new CsvScanner(opts.source, handler, opts.firstLine, delimiter);
  // A BOM passes through as is, before the header (see scanChunks).
  const transform = (source: AsyncIterable<unknown>) =>
    scanChunks(source, scanner, out, { header: opts.header });
  await pipeline(input, transform, writeAhead(), output);
  return { rowsIn: handler.rowsIn, rowsOut: handler.rowsIn, bareQuoteFields: scanner.bareQuoteFields };
}

/** A worker thread's counts for one block it transformed. */
export interface TransformedBlock {
  rows: number;
  bareQuoteFields: number;
  /** Bytes of room the block needed per byte of records: how much the next blocks are given. */
  growth: number;
}

/**
 * The records of one block, as byte ranges of it: what a worker thread collects in one scan of its block, to
 * build the output in place afterwards ({@link transformBlock}). For a scanner given the block in one push:
 * only the block's last record can come in pieces (a final block without terminator), and it then ends in
 * {@link CsvScanner.finish}, with no bytes of its own.
 */
class RecordSpans implements CsvRecordHandler {
  count = 0;
  private partialStart = -1;
  private partialEnd = 0;

  /**
   * @param spans per record: where its bytes start and end, and where its terminator ends (`[end, next)`);
   *   replaced by a larger array when the block has more records.
   */
  constructor(
    private readonly block: Buffer,
    public spans: Int32Array,
  ) {}

  partial(_chunk: Buffer, start: number, end: number): void {
    if (this.partialStart < 0) this.partialStart = start;
    this.partialEnd = end;
  }

  record(chunk: Buffer, start: number, end: number, next: number): void {
    if (this.partialStart >= 0) {
      start = this.partialStart;
      this.partialStart = -1;
      // Ended by finish(): the record is its pieces, without terminator.
      if (chunk !== this.block) end = next = this.partialEnd;
    }
    if (3 * this.count + 3 > this.spans.length) {
      const grown = new Int32Array(2 * this.spans.length);
      grown.set(this.spans);
      this.spans = grown;
    }
    const at = 3 * this.count++;
    this.spans[at] = start;
    this.spans[at + 1] = end;
    this.spans[at + 2] = next;
  }
}

/**
 * The spans of the blocks a worker thread transforms, reused from one block to the next: a thread that
 * allocates next to nothing per block seldom collects garbage, so the arrays it dropped would pile up.
 */
let spanMemory: Int32Array = new Int32Array(3 * 16384);

/**
 * Transforms one block of whole records (in a worker thread), into memory that can be moved to the main
 * thread: the block's own when the room before it ({@link BlockRequest.block}) is enough, else new memory
 * that the block is copied into behind that room. The block is scanned once for its records, then they are
 * moved forward in place, each with the terminator before it by one `copyWithin` (no view to allocate per
 * copy, as `Buffer.copy` does), the new field written after it: the records, moving left by the room not
 * used yet, never overtake the bytes still to be moved.
 */
export function transformBlock(
  block: Buffer,
  request: Omit<BlockRequest, 'seq' | 'block'>,
  { source, processedAt, delimiter }: TransformWorkerData,
): BlockOutput & TransformedBlock {
  const records = new RecordSpans(block, spanMemory);
  const scanner = new CsvScanner(source, records, request.firstLine, delimiter);
  scanner.push(block);
  if (request.final) scanner.finish();
  const { spans, count } = records;
  spanMemory = spans;
  const rowSuffix = Buffer.from(`${delimiter}${csvField(processedAt, delimiter)}`);
  const headerSuffix = Buffer.from(`${delimiter}${PROCESSED_AT_COLUMN}`);
  const header = !request.headerDone && count > 0;
  const room = count * rowSuffix.length + (header ? headerSuffix.length - rowSuffix.length : 0);
  let out: Buffer;
  if (block.byteOffset >= room) {
    out = Buffer.from(block.buffer, block.byteOffset - room, room + block.length);
  } else {
    out = Buffer.allocUnsafeSlow(room + block.length);
    out.set(block, room);
  }
  let written = 0;
  // Bytes moved yet to come: the last record's terminator, then what continues it.
  let from = 0;
  let to = 0;
  for (let k = 0; k < count; k++) {
    const start = spans[3 * k]!;
    const end = spans[3 * k + 1]!;
    if (start !== to) {
      // Blank lines before this record are dropped.
      out.copyWithin(written, room + from, room + to);
      written += to - from;
      from = start;
    }
    out.copyWithin(written, room + from, room + end);
    written += end - from;
    const suffix = header && k === 0 ? headerSuffix : rowSuffix;
    out.set(suffix, written);
    written += suffix.length;
    from = end;
    to = spans[3 * k + 2]!;
  }
  out.copyWithin(written, room + from, room + to);
  written += to - from;
  return {
    output: out.subarray(0, written),
    rows: header ? count - 1 : count,
    lines: scanner.currentLine - request.firstLine,
    bareQuoteFields: scanner.bareQuoteFields,
    growth: block.length > 0 ? room / block.length : 0,
  };
}

/** Room given to a block beyond what the blocks before it needed, for a block with more records. */
const ROOM_MARGIN = 16 * 1024;

/**
 * The parallel transform ({@link parallelBlocks}): each block transformed in place by a worker thread
 * ({@link transformBlock}), given the most room per byte a block needed so far (a half at first); a record
 * too long for the blocks, and what follows it, is transformed in this thread.
 */
function transformJob(
  { source, processedAt, delimiter }: CsvTransformOptions & { delimiter: CsvDelimiter },
  counts: { rowsIn: number; bareQuoteFields: number },
): BlockJob<BlockOutput & TransformedBlock> {
  let growth = 1 / 2;
  return {
    settings: { job: 'csv-transform', source, processedAt, delimiter },
    room: (length) => Math.ceil(length * growth) + ROOM_MARGIN,
    accept(result) {
      counts.rowsIn += result.rows;
      counts.bareQuoteFields += result.bareQuoteFields;
      growth = Math.max(growth, result.growth);
      return Buffer.from(result.output.buffer, result.output.byteOffset, result.output.byteLength);
    },
    rest(firstLine, headerDone) {
      const out = new OutputBuilder();
      const handler = new AppendColumn(out, processedAt, delimiter, headerDone);
      const scanner = new CsvScanner(source, handler, firstLine, delimiter);
      const end = () => {
        counts.rowsIn += handler.rowsIn;
        counts.bareQuoteFields += scanner.bareQuoteFields;
      };
      return { scanner, out, end };
    },
  };
}
