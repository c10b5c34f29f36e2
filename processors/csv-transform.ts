/**
 * The `csv-transform` job: appends a `processed_at` column to every record of a CSV file.
 *
 * It never parses fields. A byte scanner finds record boundaries (tracking RFC 4180 quote state across
 * chunk boundaries) and copies each record's original bytes through unchanged, inserting the new field just
 * before the record terminator. That keeps the job exact (quoting, ragged rows and odd encodings survive
 * byte for byte) and fast (native `indexOf` jumps between quotes and line ends), in constant memory.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidInputError } from './errors';

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const CR_BYTE = Buffer.from([CR]);
const EMPTY = Buffer.alloc(0);

/** Name of the appended column. */
export const PROCESSED_AT_COLUMN = 'processed_at';

/** Scanner states between two bytes (and so between two chunks). */
const OUTSIDE = 0; // not inside a quoted field
const QUOTED = 1; // inside a quoted field
const QUOTE_SEEN = 2; // a quote inside a quoted field: an escaped `""` or the closing quote, decided by the next byte
const CR_SEEN = 3; // a CR outside quotes ended the previous chunk: only an LF may follow
type State = typeof OUTSIDE | typeof QUOTED | typeof QUOTE_SEEN | typeof CR_SEEN;

/** Options of {@link csvTransform}. */
export interface CsvTransformOptions {
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

/** A field as RFC 4180 writes it: quoted only when it has to be. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function describeByte(byte: number): string {
  return byte >= 0x20 && byte < 0x7f
    ? `'${String.fromCharCode(byte)}'`
    : `byte 0x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * Incremental record scanner: {@link push} takes input chunks of any size and returns the output bytes they
 * complete; {@link finish} returns the rest. Pure and synchronous so that it is cheap per chunk.
 */
class RecordScanner {
  rowsIn = 0;
  private state: State = OUTSIDE;
  /** No byte of the current record seen yet: its terminator ends a blank line, which is dropped. */
  private recordEmpty = true;
  /** The next byte outside quotes starts a field, so a quote there opens a quoted field. */
  private fieldStart = true;
  private headerDone = false;
  /** 1-based line of the byte being scanned. */
  private line = 1;
  private quoteLine = 1;

  constructor(
    private readonly source: string,
    private readonly headerSuffix: Buffer,
    private readonly rowSuffix: Buffer,
  ) {}

  push(chunk: Buffer): Buffer {
    const n = chunk.length;
    const parts: Buffer[] = [];
    let copyFrom = 0;
    let i = 0;
    // Next quote / LF / CR at or after some earlier position (n: none left); refreshed once passed.
    let nextQuote = -1;
    let nextLf = -1;
    let nextCr = -1;

    if (this.state === CR_SEEN && n > 0) {
      if (chunk[0] !== LF) throw this.strayCr();
      // The CR was held back from the previous chunk's output because it might have ended a blank line.
      if (this.recordEmpty) copyFrom = 1;
      else parts.push(this.suffix(), CR_BYTE);
      this.endRecord();
      this.state = OUTSIDE;
      i = 1;
    }

    while (i < n) {
      if (this.state === OUTSIDE) {
        if (nextQuote < i) nextQuote = indexOrEnd(chunk, QUOTE, i);
        if (nextLf < i) nextLf = indexOrEnd(chunk, LF, i);
        if (nextCr < i) nextCr = indexOrEnd(chunk, CR, i);
        const j = Math.min(nextQuote, nextLf, nextCr);
        if (j > i) {
          this.recordEmpty = false;
          this.fieldStart = chunk[j - 1] === COMMA;
        }
        if (j === n) break;
        if (j === nextQuote) {
          if (!this.fieldStart) {
            throw this.invalid(
              'a quote (") inside an unquoted field. Quote the whole field and double the quotes inside it, e.g. ab"c becomes "ab""c"',
            );
          }
          this.recordEmpty = false;
          this.quoteLine = this.line;
          this.state = QUOTED;
          i = j + 1;
        } else if (j === nextLf) {
          copyFrom = this.terminate(chunk, parts, copyFrom, j, j + 1);
          i = j + 1;
        } else if (j + 1 === n) {
          if (j > copyFrom) parts.push(chunk.subarray(copyFrom, j));
          copyFrom = n;
          this.state = CR_SEEN;
          i = n;
        } else if (chunk[j + 1] === LF) {
          copyFrom = this.terminate(chunk, parts, copyFrom, j, j + 2);
          i = j + 2;
        } else {
          throw this.strayCr();
        }
      } else if (this.state === QUOTED) {
        const q = indexOrEnd(chunk, QUOTE, i);
        this.line += countLf(chunk, i, q);
        if (q < n) this.state = QUOTE_SEEN;
        i = q + 1;
      } else {
        const b = chunk[i]!;
        if (b === QUOTE) {
          this.state = QUOTED;
          i++;
        } else if (b === COMMA) {
          this.state = OUTSIDE;
          this.fieldStart = true;
          i++;
        } else if (b === LF || b === CR) {
          // The OUTSIDE branch handles the terminator, including a CR at the end of the chunk.
          this.state = OUTSIDE;
          this.fieldStart = false;
        } else {
          throw this.invalid(
            `unexpected ${describeByte(b)} after the closing quote of a field. A quoted field must end at a comma or line end; double any quote inside it ("")`,
          );
        }
      }
    }
    if (copyFrom < n) parts.push(chunk.subarray(copyFrom, n));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Output that completes the input: the new field of a last record that has no terminator. */
  finish(): Buffer {
    if (this.state === QUOTED) {
      throw this.invalid(
        `unterminated quoted field: the quote opened on this line is never closed (the file ends on line ${this.line}). Close the field with a quote, and double any quote inside it ("")`,
        this.quoteLine,
      );
    }
    if (this.state === CR_SEEN) throw this.strayCr();
    return this.recordEmpty ? EMPTY : this.suffix();
  }

  /**
   * Ends the record whose terminator spans [start, end): returns where the next copy starts. The
   * terminator bytes stay in the input slice copied next, so they are written as found.
   */
  private terminate(chunk: Buffer, parts: Buffer[], copyFrom: number, start: number, end: number): number {
    if (start > copyFrom) parts.push(chunk.subarray(copyFrom, start));
    const blank = this.recordEmpty;
    if (!blank) parts.push(this.suffix());
    this.endRecord();
    return blank ? end : start;
  }

  private endRecord(): void {
    this.line++;
    this.recordEmpty = true;
    this.fieldStart = true;
  }

  private suffix(): Buffer {
    if (!this.headerDone) {
      this.headerDone = true;
      return this.headerSuffix;
    }
    this.rowsIn++;
    return this.rowSuffix;
  }

  private strayCr(): InvalidInputError {
    return this.invalid(
      'carriage return (CR) not followed by a line feed outside a quoted field. Save the file with LF or CRLF line endings',
    );
  }

  private invalid(problem: string, line = this.line): InvalidInputError {
    return new InvalidInputError(`${this.source}: invalid CSV on line ${line}: ${problem}.`);
  }
}

function indexOrEnd(chunk: Buffer, byte: number, from: number): number {
  const at = chunk.indexOf(byte, from);
  return at === -1 ? chunk.length : at;
}

function countLf(chunk: Buffer, from: number, to: number): number {
  let count = 0;
  for (let at = chunk.indexOf(LF, from); at !== -1 && at < to; at = chunk.indexOf(LF, at + 1)) count++;
  return count;
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  throw new TypeError(`csvTransform: expected Buffer chunks, got ${typeof chunk}`);
}

/**
 * Streams `input` to `output` with a `processed_at` column appended to the header and every data record,
 * then ends `output` and resolves once it has finished. Record bytes, terminators (LF or CRLF, per record)
 * and a leading UTF-8 BOM are kept as found; blank lines are dropped; ragged rows pass through.
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
  const scanner = new RecordScanner(
    opts.source,
    Buffer.from(`,${PROCESSED_AT_COLUMN}`),
    Buffer.from(`,${csvField(opts.processedAt)}`),
  );

  async function* transform(source: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
    // The first bytes are held back until it is known whether they are a BOM, which passes through as is
    // and must not count as content of the first record (a BOM-only file stays a BOM-only file).
    let head: Buffer | undefined = EMPTY;
    for await (const raw of source) {
      let chunk = toBuffer(raw);
      if (head !== undefined) {
        chunk = head.length > 0 ? Buffer.concat([head, chunk]) : chunk;
        if (chunk.length < UTF8_BOM.length && UTF8_BOM.subarray(0, chunk.length).equals(chunk)) {
          head = chunk;
          continue;
        }
        head = undefined;
        if (chunk.subarray(0, UTF8_BOM.length).equals(UTF8_BOM)) {
          yield UTF8_BOM;
          chunk = chunk.subarray(UTF8_BOM.length);
        }
      }
      const out = scanner.push(chunk);
      if (out.length > 0) yield out;
    }
    const rest = head !== undefined && head.length > 0 ? scanner.push(head) : EMPTY;
    const last = scanner.finish();
    if (rest.length + last.length > 0) yield Buffer.concat([rest, last]);
  }

  await pipeline(input, transform, output);
  return { rowsIn: scanner.rowsIn, rowsOut: scanner.rowsIn };
}
