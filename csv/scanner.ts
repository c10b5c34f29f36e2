/**
 * The record scanner of the byte-level CSV engine shared by the CSV jobs (its records' fields are split and
 * decoded by csv/fields.ts), and {@link RecordEnds}, which follows only its quotes to cut a file into blocks.
 *
 * Semantics (RFC 4180 plus what real files carry): fields separated by one delimiter byte (a comma unless
 * the job is given `;`, tab or `|`); records end at LF or CRLF, chosen per record; a field that starts with
 * a quote is quoted, may hold delimiters, quotes (doubled) and line breaks, and must end at a delimiter or
 * the record's end; a quote inside an unquoted field (`12" pipe`) is an ordinary character, as for Python's
 * csv and csv-parse's `relax_quotes`, and such fields are counted; a leading UTF-8 BOM is not data; blank
 * lines are skipped; records may have different numbers of fields. A character after a closing quote, an
 * unterminated quoted field, a field longer than {@link MAX_FIELD_BYTES} and a CR outside quotes that does
 * not start a CRLF are errors.
 *
 * The scanner never decodes anything: native `indexOf` jumps from one quote or line end to the next, so it
 * costs little more than reading the bytes, and it reports each record as a byte range of the chunk it ends
 * in. Consumers that need fields split a record with `FieldSplitter` (csv/fields.ts) and decode only the
 * fields they look at, and only those that are quoted need more than a byte range.
 */
import { InvalidInputError } from '../contract/failures';
import { DEFAULT_CSV_DELIMITER, type CsvDelimiter } from '../contract/jobs';

// Not exported: compiled CommonJS would read an exported constant as a property of `exports` in every loop.
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
/**
 * The longest field the CSV jobs read: 1 MiB. A longer one fails the file, naming its line, instead of being
 * held in memory; it is most often a quote that opens a field and is never closed.
 */
export const MAX_FIELD_BYTES = 1024 * 1024;
const CRLF = Buffer.from([CR, LF]);
const EMPTY = Buffer.alloc(0);

/** Scanner states between two bytes (and so between two chunks). */
const OUTSIDE = 0; // not inside a quoted field
const QUOTED = 1; // inside a quoted field
const QUOTE_SEEN = 2; // a quote inside a quoted field: an escaped `""` or the closing quote, decided by the next byte
const CR_SEEN = 3; // a CR outside quotes ended the previous chunk: only an LF may follow
type State = typeof OUTSIDE | typeof QUOTED | typeof QUOTE_SEEN | typeof CR_SEEN;

/**
 * Receives the records a {@link CsvScanner} finds. Byte ranges point into the chunk being scanned and are
 * valid for as long as the caller keeps that chunk.
 */
export interface CsvRecordHandler {
  /**
   * Bytes `[start, end)` of `chunk` belong to a record that does not end in this chunk: the first or a middle
   * piece of a record that spans chunks. Never called with an empty range.
   */
  partial(chunk: Buffer, start: number, end: number): void;
  /**
   * A record (never a blank line) ends: `[start, end)` are its last bytes (all of them unless `partial` came
   * first), `[end, next)` its terminator as found (LF or CRLF; empty for a last record without one).
   */
  record(chunk: Buffer, start: number, end: number, next: number): void;
}

/**
 * Incremental record scanner: {@link push} takes chunks of any size (without a BOM: see `stripBom` in csv/streams.ts),
 * calling the handler for each record they complete; {@link finish} ends the input. Synchronous, so that
 * it is cheap per chunk.
 */
export class CsvScanner {
  /** 1-based line of the first byte of the record being scanned (or handed to the handler). */
  recordLine: number;
  /** Whether the record being scanned (or handed to the handler) has a quoted field. */
  recordQuoted = false;
  /** Fields read so far that hold a quote without being quoted (`12" pipe`): read literally, and counted. */
  bareQuoteFields = 0;
  private state: State = OUTSIDE;
  /** No byte of the current record seen yet: its terminator ends a blank line, which is skipped. */
  private recordEmpty = true;
  /** The next byte outside quotes starts a field, so a quote there opens a quoted field. */
  private fieldStart = true;
  /** 1-based line of the byte being scanned. */
  private line: number;
  private quoteLine: number;
  /** The delimiter byte, chosen once: the loop compares with it as with a constant. */
  private readonly delimiter: number;
  /** Bytes pushed before the chunk being scanned: positions below are absolute, counted from the first. */
  private offset = 0;
  /**
   * Where the field being scanned starts (after a record: where the next one may), between chunks: fields
   * are measured (against MAX_FIELD_BYTES) only when the distance from here says they might be too long.
   */
  private fieldAt = 0;
  /** Up to where the bytes of the field being scanned were searched for a delimiter. */
  private searchedTo = 0;
  /** The start of the last field counted in {@link bareQuoteFields}, so that a field counts once. */
  private bareFieldAt = -1;

  /**
   * @param source name of the input (path or `s3://` URI), used in error messages.
   * @param firstLine 1-based line number of the first byte pushed: above 1 when the input is a piece of a
   *   file that starts further in (a chunk), so that {@link recordLine} and error messages name the file's
   *   lines.
   * @param delimiter the field separator.
   */
  constructor(
    private readonly source: string,
    private readonly handler: CsvRecordHandler,
    firstLine = 1,
    delimiter: CsvDelimiter = DEFAULT_CSV_DELIMITER,
  ) {
    this.recordLine = this.line = this.quoteLine = firstLine;
    this.delimiter = delimiter.charCodeAt(0);
  }

  /**
   * Scans one chunk.
   * @throws InvalidInputError naming the line of broken quoting, of a field longer than MAX_FIELD_BYTES or
   *   of a CR outside quotes without an LF.
   */
  push(chunk: Buffer): void {
    const n = chunk.length;
    const delimiter = this.delimiter;
    const offset = this.offset;
    let i = 0;
    // Where the current record's bytes start in this chunk (0 if it began in an earlier one).
    let start = 0;
    // Next quote / LF / CR at or after some earlier position (n: none left); refreshed once passed.
    let nextQuote = -1;
    let nextLf = -1;
    let nextCr = -1;
    // Where the field being scanned starts in this chunk, or earlier (negative: in an earlier chunk). A local,
    // so that the check of each stop against MAX_FIELD_BYTES costs one comparison of locals.
    let fieldFrom = this.fieldAt - offset;

    if (this.state === CR_SEEN && n > 0) {
      if (chunk[0] !== LF) throw this.strayCr();
      // The CR was held back from the previous chunk because it might have ended a blank line.
      if (!this.recordEmpty) this.handler.record(CRLF, 0, 0, 2);
      this.endRecord();
      this.state = OUTSIDE;
      i = start = fieldFrom = 1;
    }

    while (i < n) {
      if (this.state === OUTSIDE) {
        if (nextQuote < i) nextQuote = indexOrEnd(chunk, QUOTE, i);
        if (nextLf < i) nextLf = indexOrEnd(chunk, LF, i);
        if (nextCr < i) nextCr = indexOrEnd(chunk, CR, i);
        const j = Math.min(nextQuote, nextLf, nextCr);
        if (j > i) {
          if (this.recordEmpty) {
            this.beginRecord();
            start = fieldFrom = i;
          }
          this.fieldStart = chunk[j - 1] === delimiter;
        }
        if (j - fieldFrom > MAX_FIELD_BYTES) fieldFrom = this.measureField(chunk, j, fieldFrom);
        if (j === n) break;
        if (j === nextQuote) {
          i = j + 1;
          if (!this.fieldStart) {
            fieldFrom = this.bareQuote(chunk, j, fieldFrom);
            continue;
          }
          if (this.recordEmpty) {
            this.beginRecord();
            start = j;
          }
          fieldFrom = j;
          this.recordQuoted = true;
          this.quoteLine = this.line;
          this.state = QUOTED;
        } else if (j === nextLf) {
          this.terminate(chunk, start, j, j + 1);
          i = start = fieldFrom = j + 1;
        } else if (j + 1 === n) {
          // A CR ends the chunk: whether it starts a CRLF is only known from the next chunk.
          if (!this.recordEmpty && j > start) this.handler.partial(chunk, start, j);
          this.state = CR_SEEN;
          this.fieldAt = offset + fieldFrom;
          this.offset = offset + n;
          return;
        } else if (chunk[j + 1] === LF) {
          this.terminate(chunk, start, j, j + 2);
          i = start = fieldFrom = j + 2;
        } else {
          throw this.strayCr();
        }
      } else if (this.state === QUOTED) {
        const q = indexOrEnd(chunk, QUOTE, i);
        this.line += countLf(chunk, i, q);
        // Its bytes from the opening quote: that quote is not the field's.
        if (q - fieldFrom > MAX_FIELD_BYTES + 1) throw this.fieldTooLong(this.quoteLine, true);
        if (q < n) this.state = QUOTE_SEEN;
        i = q + 1;
      } else {
        const b = chunk[i]!;
        if (b === QUOTE) {
          this.state = QUOTED;
          i++;
        } else if (b === delimiter) {
          this.state = OUTSIDE;
          this.fieldStart = true;
          fieldFrom = ++i;
        } else if (b === LF || b === CR) {
          // The OUTSIDE branch handles the terminator, including a CR at the end of the chunk; the quoted
          // field, measured already, is not measured again as an unquoted one.
          this.state = OUTSIDE;
          this.fieldStart = false;
          fieldFrom = i;
        } else {
          throw this.invalid(
            `unexpected ${describeByte(b)} after the closing quote of a field. A quoted field must end at a delimiter (${describeByte(delimiter)}) or line end; double any quote inside it ("")`,
          );
        }
      }
    }
    if (!this.recordEmpty && start < n) {
      this.handler.partial(chunk, start, n);
      // The field goes on in the next chunk, which cannot look back at this one's delimiters.
      if (this.state === OUTSIDE) fieldFrom = this.findField(chunk, n, fieldFrom);
    }
    this.fieldAt = offset + fieldFrom;
    this.offset = offset + n;
  }

  /**
   * Ends the input: hands over a last record that has no terminator.
   * @throws InvalidInputError for an unterminated quoted field or a CR at the very end.
   */
  finish(): void {
    if (this.state === QUOTED) {
      throw this.invalid(
        `unterminated quoted field: the quote opened on this line is never closed (the file ends on line ${this.line}). Close the field with a quote, and double any quote inside it ("")`,
        this.quoteLine,
      );
    }
    if (this.state === CR_SEEN) throw this.strayCr();
    if (!this.recordEmpty) this.handler.record(EMPTY, 0, 0, 0);
    this.endRecord();
  }

  private beginRecord(): void {
    this.recordEmpty = false;
    this.recordLine = this.line;
  }

  private terminate(chunk: Buffer, start: number, end: number, next: number): void {
    if (!this.recordEmpty) this.handler.record(chunk, start, end, next);
    this.endRecord();
  }

  private endRecord(): void {
    this.line++;
    this.recordEmpty = true;
    this.recordQuoted = false;
    this.fieldStart = true;
  }

  /**
   * The start in `chunk` of the unquoted field that `chunk[to]` is in (or ends): after the last delimiter or
   * LF from `from`, a position where the field or its record starts. Each byte is searched once, however
   * often it is called.
   */
  private findField(chunk: Buffer, to: number, from: number): number {
    const lo = Math.max(0, from, this.searchedTo - this.offset);
    const delimiter = this.delimiter;
    // Backwards by hand: the last delimiter is most often a few bytes away, nearer than a native call costs.
    let at = to;
    while (at > lo && chunk[at - 1] !== delimiter && chunk[at - 1] !== LF) at--;
    this.searchedTo = this.offset + to;
    return at > lo ? at : from;
  }

  /**
   * The unquoted fields from `from` (where one starts) to `chunk[to]` may be too long: measures each of them
   * exactly, not only the last, and returns where the last starts. Each byte is searched once, however often
   * it is called.
   */
  private measureField(chunk: Buffer, to: number, from: number): number {
    const delimiter = this.delimiter;
    let field = from;
    for (let at = Math.max(0, from, this.searchedTo - this.offset); at < to; at++) {
      const byte = chunk[at];
      if (byte !== delimiter && byte !== LF) continue;
      if (at - field > MAX_FIELD_BYTES) throw this.fieldTooLong(this.line, false);
      field = at + 1;
    }
    this.searchedTo = this.offset + to;
    if (to - field > MAX_FIELD_BYTES) throw this.fieldTooLong(this.line, false);
    return field;
  }

  /** A quote at `chunk[at]`, inside an unquoted field: a character of it, and the field is counted once. */
  private bareQuote(chunk: Buffer, at: number, from: number): number {
    const field = this.findField(chunk, at, from);
    if (this.bareFieldAt !== this.offset + field) {
      this.bareFieldAt = this.offset + field;
      this.bareQuoteFields++;
    }
    return field;
  }

  private fieldTooLong(line: number, quoted: boolean): CsvSyntaxError {
    return this.invalid(
      `a field longer than ${MAX_FIELD_BYTES} bytes (1 MiB), the most a field of the CSV jobs may hold` +
        (quoted
          ? '. It is a quoted field that starts on this line: most likely its quote is never closed. Close it with a quote, and double any quote inside it ("")'
          : '. Split the value, or store it outside the CSV file'),
      line,
    );
  }

  private strayCr(): InvalidInputError {
    return this.invalid(
      'carriage return (CR) not followed by a line feed outside a quoted field. Save the file with LF or CRLF line endings',
    );
  }

  /** 1-based line of the next byte to scan: after a whole input, its first line plus the LFs it held. */
  get currentLine(): number {
    return this.line;
  }

  private invalid(problem: string, line = this.line): CsvSyntaxError {
    return new CsvSyntaxError(this.source, line, problem);
  }
}

/**
 * Finds record ends in a stream with the scanner's quote rules, looking at its quotes only (one native
 * `indexOf` per quote, and per cut): what cuts a file into blocks of whole records for parallel work, for
 * much less than a scan. It checks nothing: on broken CSV it may cut anywhere after the first error, and
 * the scanner that reads the blocks in order reports that error.
 */
export class RecordEnds {
  private quoted = false;
  /** A quote inside a quoted field ended the last chunk: a doubled quote or the closing one. */
  private quoteSeen = false;
  /** The last chunk ended where a field starts (after a delimiter or an LF, or at the very start). */
  private fieldStart = true;
  private readonly delimiter: number;

  constructor(delimiter: CsvDelimiter = DEFAULT_CSV_DELIMITER) {
    this.delimiter = delimiter.charCodeAt(0);
  }

  /**
   * Follows the quote state through `chunk`, the next chunk of the stream.
   * @param from where a cut is wanted: the first record end at or after it is returned; -1: none wanted.
   * @returns the position just after the LF that ends that record, or -1 if no record ends there.
   */
  scan(chunk: Buffer, from: number): number {
    const n = chunk.length;
    const delimiter = this.delimiter;
    let cut = -1;
    let nextLf = -1;
    let i = 0;
    if (this.quoteSeen && n > 0) {
      this.quoteSeen = false;
      if (chunk[0] === QUOTE) i = 1;
      else this.quoted = false;
    }
    while (i < n) {
      if (this.quoted) {
        const q = chunk.indexOf(QUOTE, i);
        if (q === -1 || q + 1 === n) {
          this.quoteSeen = q !== -1;
          return cut;
        }
        if (chunk[q + 1] === QUOTE) {
          i = q + 2;
        } else {
          this.quoted = false;
          i = q + 1;
        }
        continue;
      }
      const q = indexOrEnd(chunk, QUOTE, i);
      if (cut === -1 && from >= 0 && q > from) {
        if (nextLf < Math.max(i, from)) nextLf = indexOrEnd(chunk, LF, Math.max(i, from));
        if (nextLf < q) cut = nextLf + 1;
      }
      if (q === n) break;
      const before = q === 0 ? -1 : chunk[q - 1];
      this.quoted = q === 0 ? this.fieldStart : before === delimiter || before === LF;
      i = q + 1;
    }
    if (!this.quoted && n > 0) this.fieldStart = chunk[n - 1] === delimiter || chunk[n - 1] === LF;
    return cut;
  }
}

/** Broken CSV, on a line: the line and the problem are kept apart so that a piece's line can be shifted. */
export class CsvSyntaxError extends InvalidInputError {
  override name = 'CsvSyntaxError';

  constructor(
    source: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${source}: invalid CSV on line ${line}: ${problem}.`);
  }
}

function describeByte(byte: number): string {
  return byte >= 0x20 && byte < 0x7f
    ? `'${String.fromCharCode(byte)}'`
    : `byte 0x${byte.toString(16).padStart(2, '0')}`;
}

function indexOrEnd(chunk: Buffer, byte: number, from: number): number {
  const at = chunk.indexOf(byte, from);
  return at === -1 ? chunk.length : at;
}

/** LFs in `chunk[from, to)`. */
export function countLf(chunk: Buffer, from: number, to: number): number {
  let count = 0;
  for (let at = chunk.indexOf(LF, from); at !== -1 && at < to; at = chunk.indexOf(LF, at + 1)) count++;
  return count;
}
