/**
 * The `csv-transform` job: appends a `processed_at` column to every record of a CSV file.
 *
 * It never parses fields. The shared scanner ({@link CsvScanner}) finds record boundaries and this job copies
 * each record's original bytes through unchanged, inserting the new field just before the record terminator.
 * That keeps the job exact (quoting, ragged rows and odd encodings survive byte for byte) and fast, in
 * constant memory.
 */
import type { Writable } from 'node:stream';
import { extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import { DEFAULT_CSV_DELIMITER, type CsvDelimiter } from '../contract/jobs';
import {
  CsvScanner,
  CsvSyntaxError,
  MAX_FIELD_BYTES,
  OutputBuilder,
  RecordEnds,
  UTF8_BOM,
  csvField,
  writeAhead,
  type CsvChunkOptions,
  type CsvRecordHandler,
} from '../csv/scanner';
import { inputChunks, scanChunks } from './csv-stream';

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
    await pipeline(
      input,
      (source: AsyncIterable<unknown>) => transformBlocks(source, { ...opts, delimiter }, counts),
      writeAhead(),
      output,
    );
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

/** What every worker thread of a parallel transform is started with. */
export interface TransformWorkerData {
  source: string;
  processedAt: string;
  delimiter: CsvDelimiter;
}

/** One block of whole records for a worker thread. */
export interface BlockRequest {
  seq: number;
  /**
   * The records. The bytes of its memory before them (`block.byteOffset`) are room the worker may transform
   * them into, so that it sends the block's own memory back instead of allocating some.
   */
  block: Uint8Array;
  /** The header was in an earlier block, or the input has none (a chunk): every record is data. */
  headerDone: boolean;
  /** The input's last block: it may end without a terminator, or inside a quoted field (an error). */
  final: boolean;
  /** The block's first line: exact for the final block, 1 for the others (their errors are shifted). */
  firstLine: number;
}

/** A worker thread's output for one block, and its counts. */
export interface BlockOutput {
  output: Uint8Array;
  rows: number;
  lines: number;
  bareQuoteFields: number;
  /** Bytes of room the block needed per byte of records: how much the next blocks are given. */
  growth: number;
}

export type BlockResult =
  | ({ seq: number } & BlockOutput)
  | { seq: number; error: { line: number; problem: string } | { message: string } };

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
): BlockOutput {
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

/** Blocks handed to the worker threads are at least this large: the hand-over costs about as much as 64 KiB of work. */
const BLOCK_BYTES = 1024 * 1024;
/**
 * Input held without a record end (a record longer than this, or a field never closed): the rest of the input
 * is transformed in this thread instead, streaming, so that memory stays bounded and the scanner reports a
 * field over MAX_FIELD_BYTES with its line.
 */
const MAX_HELD_BYTES = BLOCK_BYTES + 2 * MAX_FIELD_BYTES;
const LF_BYTE = 0x0a;
/** Room given to a block beyond what the blocks before it needed, for a block with more records. */
const ROOM_MARGIN = 16 * 1024;

/**
 * `buffers` copied into memory of their own (never Node's shared pool), after `room` free bytes: it can be
 * moved to a worker thread, which transforms it into that room.
 */
function own(buffers: readonly Buffer[], length: number, room: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(room + length);
  let at = room;
  for (const b of buffers) at += b.copy(buf, at);
  return buf.subarray(room);
}

/** Whether `buf[0, end)` has a byte other than CR and LF (then it holds a record, the header of a file). */
function hasRecord(buf: Buffer, end: number): boolean {
  for (let i = 0; i < end; i++) if (buf[i] !== LF_BYTE && buf[i] !== 0x0d) return true;
  return false;
}

/**
 * The parallel transform: cuts the input into blocks of whole records (at LFs outside quotes, found by
 * {@link RecordEnds}), transforms them in worker threads, and yields their outputs in order, with one block
 * more than threads in flight. A record longer than MAX_HELD_BYTES ends the parallel part: the rest is
 * transformed in this thread.
 */
async function* transformBlocks(
  source: AsyncIterable<unknown>,
  opts: CsvTransformOptions & { delimiter: CsvDelimiter },
  counts: { rowsIn: number; bareQuoteFields: number },
): AsyncGenerator<Buffer> {
  const threads = opts.threads ?? 2;
  const { source: name, processedAt, delimiter } = opts;
  const settings: TransformWorkerData = { source: name, processedAt, delimiter };
  const workerFile = join(__dirname, `csv-transform-worker${extname(__filename)}`);
  const waiting = new Map<number, { resolve: (r: BlockResult) => void; reject: (e: Error) => void }>();
  const fail = (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  const workers = Array.from({ length: threads }, () => {
    // Compiled, the worker is a .js file; from the sources (tsx: tests, `npm run process`) it is loaded the same way.
    const worker =
      extname(workerFile) === '.ts'
        ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(workerFile)});`, {
            eval: true,
            workerData: settings,
          })
        : new Worker(workerFile, { workerData: settings });
    worker.on('message', (result: BlockResult) => {
      waiting.get(result.seq)?.resolve(result);
      waiting.delete(result.seq);
    });
    worker.on('error', fail);
    return worker;
  });
  const baseLine = opts.firstLine ?? 1;
  let linesBefore = 0;
  let headerDone = opts.header !== undefined;
  let bom = false;
  let seq = 0;
  let finalSeq = -1;
  const inFlight: Promise<BlockResult>[] = [];
  /** Room per byte of records that blocks are given: the most a block needed so far, a half at first. */
  let growth = 1 / 2;
  const roomFor = (length: number) => Math.ceil(length * growth) + ROOM_MARGIN;
  const send = (block: Buffer, final: boolean): void => {
    if (final) finalSeq = seq;
    const request: BlockRequest = {
      seq: seq++,
      block,
      headerDone,
      final,
      firstLine: final ? baseLine + linesBefore : 1,
    };
    headerDone = true;
    inFlight.push(
      new Promise<BlockResult>((resolve, reject) => {
        waiting.set(request.seq, { resolve, reject });
        workers[request.seq % threads]!.postMessage(request, [block.buffer as ArrayBuffer]);
      }),
    );
  };
  /** The output of the oldest block in flight; its error, with the file's line, if it had one. */
  const receive = async (): Promise<Buffer> => {
    const result = await inFlight.shift()!;
    if ('error' in result) {
      const { error } = result;
      if ('message' in error) throw new Error(error.message);
      // A final block was scanned with its exact first line; the others from 1.
      const line = result.seq === finalSeq ? error.line : baseLine + linesBefore + error.line - 1;
      throw new CsvSyntaxError(name, line, error.problem);
    }
    counts.rowsIn += result.rows;
    growth = Math.max(growth, result.growth);
    counts.bareQuoteFields += result.bareQuoteFields;
    linesBefore += result.lines;
    return withBom(Buffer.from(result.output.buffer, result.output.byteOffset, result.output.byteLength));
  };
  const withBom = (output: Buffer) => (bom ? ((bom = false), Buffer.concat([UTF8_BOM, output])) : output);

  try {
    // A BOM passes through as is, before the first block's output (as in scanChunks).
    const chunks = inputChunks(source, opts.header, () => (bom = true));
    const ends = new RecordEnds(delimiter);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    /** Set once a record outgrew MAX_HELD_BYTES: the rest of the input is transformed here. */
    let here: { scanner: CsvScanner; handler: AppendColumn; out: OutputBuilder } | undefined;
    for await (const chunk of chunks) {
      if (here) {
        here.scanner.push(chunk);
        const output = here.out.take();
        if (output.length > 0) yield output;
        continue;
      }
      // A block ends at the first record end from BLOCK_BYTES on.
      const cut = ends.scan(
        chunk,
        pendingBytes + chunk.length >= BLOCK_BYTES ? Math.max(0, BLOCK_BYTES - pendingBytes) : -1,
      );
      if (cut !== -1) {
        const block = own(
          [...pending, chunk.subarray(0, cut)],
          pendingBytes + cut,
          roomFor(pendingBytes + cut),
        );
        if (headerDone || hasRecord(block, block.length)) {
          pending = cut < chunk.length ? [chunk.subarray(cut)] : [];
          pendingBytes = chunk.length - cut;
          send(block, false);
          while (inFlight.length > threads) yield await receive();
          continue;
        }
      }
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes <= MAX_HELD_BYTES) continue;
      while (inFlight.length > 0) yield await receive();
      const out = new OutputBuilder();
      const handler = new AppendColumn(out, processedAt, delimiter, headerDone);
      here = { scanner: new CsvScanner(name, handler, baseLine + linesBefore, delimiter), handler, out };
      for (const piece of pending) here.scanner.push(piece);
      pending = [];
      yield withBom(out.take());
    }
    if (here) {
      here.scanner.finish();
      counts.rowsIn += here.handler.rowsIn;
      counts.bareQuoteFields += here.scanner.bareQuoteFields;
      const output = here.out.take();
      if (output.length > 0) yield output;
      return;
    }
    while (inFlight.length > 0) yield await receive();
    // The last block, with its exact first line now that every earlier block is counted.
    send(own(pending, pendingBytes, roomFor(pendingBytes)), true);
    const last = await receive();
    if (last.length > 0) yield last;
  } finally {
    // Blocks still in flight are abandoned (an error, or the consumer stopped): nobody awaits them.
    for (const abandoned of inFlight) abandoned.catch(() => {});
    fail(new Error('the transform stopped'));
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
