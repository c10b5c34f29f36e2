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
import {
  CsvScanner,
  OutputBuilder,
  UTF8_BOM,
  asBuffers,
  csvField,
  stripBom,
  writeAhead,
  type CsvChunkOptions,
  type CsvRecordHandler,
} from './csv-scanner';

/** Name of the appended column. */
export const PROCESSED_AT_COLUMN = 'processed_at';

/** Options of {@link csvTransform}; for a chunk of a file, see {@link CsvChunkOptions}. */
export interface CsvTransformOptions extends CsvChunkOptions {
  /** Value of the new column, the same on every record (ISO-8601 UTC). */
  processedAt: string;
  /** Name of the input (path or `s3://` URI), used in error messages. */
  source: string;
}

/** Record counts of one {@link csvTransform} run. */
export interface CsvTransformResult {
  /** Data records read (header and blank lines excluded). */
  rowsIn: number;
  /** Data records written. */
  rowsOut: number;
}

/** Copies each record with the new field inserted before its terminator. */
class AppendColumn implements CsvRecordHandler {
  rowsIn = 0;

  /** @param headerDone the input has no header record (a chunk after the first): every record is data. */
  constructor(
    readonly out: OutputBuilder,
    private readonly headerSuffix: Buffer,
    private readonly rowSuffix: Buffer,
    private headerDone: boolean,
  ) {}

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
 * and a leading UTF-8 BOM are kept as found; blank lines are dropped; ragged rows pass through.
 *
 * With `opts.header` the input is a chunk without header (nor BOM: bytes that look like one are data): only
 * its records are written, so that the chunks' outputs concatenate into the file's. `opts.firstLine` makes
 * line numbers in errors the file's.
 *
 * @throws InvalidInputError naming the 1-based line of broken quoting (an unterminated quoted field, a quote
 *   inside an unquoted field, a character after a closing quote) or of a bare CR. `output` is then destroyed
 *   and may hold a prefix of the result: the caller discards it.
 */
export async function csvTransform(
  input: AsyncIterable<Buffer> | NodeJS.ReadableStream,
  output: Writable,
  opts: CsvTransformOptions,
): Promise<CsvTransformResult> {
  const out = new OutputBuilder();
  const handler = new AppendColumn(
    out,
    Buffer.from(`,${PROCESSED_AT_COLUMN}`),
    Buffer.from(`,${csvField(opts.processedAt)}`),
    opts.header !== undefined,
  );
  const scanner = new CsvScanner(opts.source, handler, opts.firstLine);

  async function* transform(source: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
    // A BOM passes through as is and is not content of the first record (a BOM-only file stays one). Only
    // the start of a file can have one.
    const chunks =
      opts.header === undefined ? stripBom(source, () => out.bytes(UTF8_BOM)) : asBuffers(source);
    for await (const chunk of chunks) {
      scanner.push(chunk);
      const bytes = out.take();
      if (bytes.length > 0) yield bytes;
    }
    scanner.finish();
    const rest = out.take();
    if (rest.length > 0) yield rest;
  }

  await pipeline(input, transform, writeAhead(), output);
  return { rowsIn: handler.rowsIn, rowsOut: handler.rowsIn };
}
