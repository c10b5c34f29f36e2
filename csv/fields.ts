/**
 * The fields of the records the scanner (csv/scanner.ts) finds: {@link FieldSplitter} splits a record into
 * byte ranges and decodes the fields that are read, and {@link csvField} writes a value as one field.
 */
import { DEFAULT_CSV_DELIMITER, type CsvDelimiter } from '../contract/jobs';

// Not exported, as in csv/scanner.ts: compiled CommonJS would read an exported constant as a property of
// `exports` in every loop.
const QUOTE = 0x22;

/**
 * Splits records into fields. A class rather than functions because tsx (esbuild) turns each use of an
 * imported function into a getter call, which shows in a per-record loop; a method call does not.
 */
export class FieldSplitter {
  /** Raw range of field `k` of the last split record (quotes included): `[bounds[2k], bounds[2k + 1])`. */
  readonly bounds: Int32Array;
  private readonly delimiter: number;

  /**
   * @param maxFields how many fields' ranges to keep; more are counted, not kept.
   * @param delimiter the field separator, the scanner's.
   */
  constructor(
    readonly maxFields: number,
    delimiter: CsvDelimiter = DEFAULT_CSV_DELIMITER,
  ) {
    this.bounds = new Int32Array(2 * maxFields);
    this.delimiter = delimiter.charCodeAt(0);
  }

  /**
   * Finds the fields of one record, `buf[start, end)` without its terminator, as the scanner accepted it,
   * and returns how many it has.
   * @param quoted whether the record has a quoted field (`CsvScanner.recordQuoted`): if not, a plain
   *   loop finds the delimiters (records are short: cheaper than a native `indexOf` call per field). A quote
   *   inside an unquoted field is a character like any other.
   */
  split(buf: Buffer, start: number, end: number, quoted: boolean): number {
    const { bounds, maxFields, delimiter } = this;
    let count = 0;
    let at = start;
    if (!quoted) {
      for (let i = start; i < end; i++) {
        if (buf[i] !== delimiter) continue;
        if (count < maxFields) {
          bounds[2 * count] = at;
          bounds[2 * count + 1] = i;
        }
        count++;
        at = i + 1;
      }
      if (count < maxFields) {
        bounds[2 * count] = at;
        bounds[2 * count + 1] = end;
      }
      return count + 1;
    }
    for (;;) {
      let fieldEnd: number;
      if (at < end && buf[at] === QUOTE) {
        // The closing quote is the first quote not followed by another; the scanner checked that a delimiter
        // or the record's end comes right after it. (Bounded anyway, so that no input can make it loop.)
        let q = buf.indexOf(QUOTE, at + 1);
        while (q !== -1 && q + 1 < end && buf[q + 1] === QUOTE) q = buf.indexOf(QUOTE, q + 2);
        fieldEnd = q === -1 || q >= end ? end : q + 1;
      } else {
        const next = buf.indexOf(delimiter, at);
        fieldEnd = next === -1 || next > end ? end : next;
      }
      if (count < maxFields) {
        bounds[2 * count] = at;
        bounds[2 * count + 1] = fieldEnd;
      }
      count++;
      if (fieldEnd >= end) return count;
      at = fieldEnd + 1;
    }
  }

  /** The value of field `k` of `buf` (the buffer last split) if it is quoted: its bytes, unquoted. */
  unquoted(buf: Buffer, k: number): Buffer | undefined {
    const start = this.bounds[2 * k]!;
    const end = this.bounds[2 * k + 1]!;
    return end > start && buf[start] === QUOTE ? unquoteField(buf, start, end) : undefined;
  }

  /** The value of field `k` of `buf` (the buffer last split) as a string (UTF-8), quotes decoded. */
  text(buf: Buffer, k: number): string {
    return (
      this.unquoted(buf, k)?.toString('utf8') ??
      buf.toString('utf8', this.bounds[2 * k], this.bounds[2 * k + 1])
    );
  }
}

/** The bytes of a quoted raw field `buf[start, end)` without its quotes, doubled quotes made single. */
function unquoteField(buf: Buffer, start: number, end: number): Buffer {
  const inner = buf.subarray(start + 1, end - 1);
  if (inner.indexOf(QUOTE) === -1) return inner;
  const out = Buffer.allocUnsafe(inner.length);
  let n = 0;
  for (let i = 0; i < inner.length; i++) {
    const b = inner[i]!;
    out[n++] = b;
    if (b === QUOTE) i++;
  }
  return out.subarray(0, n);
}

/** A value as one CSV field: quoted only when it has to be (RFC 4180), i.e. when it holds the delimiter. */
export function csvField(value: string, delimiter: CsvDelimiter = DEFAULT_CSV_DELIMITER): string {
  return /["\r\n]/.test(value) || value.includes(delimiter) ? `"${value.replace(/"/g, '""')}"` : value;
}
