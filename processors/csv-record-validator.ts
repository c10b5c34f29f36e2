/**
 * The record checks of the `csv-validate` job: a {@link Validator} takes the records the scanner finds, checks
 * each against the schema's columns (compiled by processors/csv-rules.ts) and routes it to the output or the
 * rejects, counting both. It runs in the job's thread (processors/csv-validate.ts) or, on blocks of whole
 * records, in a worker thread ({@link blockValidator}).
 */
import { FieldSplitter, csvField } from '../csv/fields';
import type { OutputBuilder } from '../csv/output-builder';
import { CsvScanner, type CsvRecordHandler } from '../csv/scanner';
import { InvalidInputError } from '../contract/failures';
import { CSV_DELIMITER_NAMES, type CsvDelimiter } from '../contract/jobs';
import { compileColumns, failedRule, groupLabel, type Column, type RejectRule } from './csv-rules';
import type { GroupTotal, NumericStats } from './csv-statistics';
import { addColumnStatistics } from '../common/column-statistics';
import type { BlockOutput, BlockRequest, ValidateWorkerData } from './csv-blocks';
import type { CsvSchema } from '../common/schema';

/** A record longer than this is rejected without being held in memory (rule `record_too_long`). */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** Values longer than this are cut in the rejects file. */
const MAX_REJECT_VALUE_CHARS = 256;

function clip(value: string): string {
  return value.length > MAX_REJECT_VALUE_CHARS ? `${value.slice(0, MAX_REJECT_VALUE_CHARS)}…` : value;
}

/** What takes the valid records besides the output, as csv-to-dynamodb's loader does. */
export interface ValidRowSink {
  /**
   * A valid record: its fields' text in the schema's column order, and its row number in the file (1 for the
   * first data row). Called synchronously, as the records are scanned.
   * @returns undefined to keep it, or why it is rejected after all: the column, the rule and what was expected.
   */
  row(fields: string[], row: number): { column: string; rule: RejectRule; expected: string } | undefined;
  /** Called after each input chunk's records, and at the end: waits for what they were given to be taken. */
  drain(): Promise<void>;
}

/** The counts of a run, or of a piece of one (a block). */
export interface ValidateCounts {
  /** The header record was read, in this piece or before it, or given (a chunk after the first). */
  headerSeen: boolean;
  /** Data records read (header and blank lines excluded). */
  rowsIn: number;
  /** Valid records, written to the output. */
  rowsOut: number;
  /** Records that failed a check; `rowsIn = rowsOut + rowsRejected`. */
  rowsRejected: number;
  /** Fields with a quote inside, unquoted (`12" pipe`): read literally. */
  bareQuoteFields: number;
  /** Failed checks per rule (a record may fail several). */
  rejectsByRule: Partial<Record<RejectRule, number>>;
  /** Per numeric column, over the valid records. */
  columns: Record<string, NumericStats>;
  /** Per numeric column with `totalsBy`: count and sum per value of that column, over the valid records. */
  totals: Record<string, Record<string, GroupTotal>>;
}

/** What takes the output's bytes: an {@link OutputBuilder}, or a block's own memory ({@link InPlaceOutput}). */
type RangeSink = Pick<OutputBuilder, 'range'>;

/** Rejects lines: per reject its row and line in `at` (shifted by `rowShift` and `lineShift`), the rest in `texts`. */
export function rejectLines(
  at: readonly number[],
  texts: readonly string[],
  rowShift: number,
  lineShift: number,
): string {
  let text = '';
  for (let k = 0; k < texts.length; k++)
    text += `${at[2 * k]! + rowShift},${at[2 * k + 1]! + lineShift},${texts[k]}`;
  return text;
}

/** Checks each record and routes it to the output or the rejects. */
export class Validator implements CsvRecordHandler {
  readonly scanner: CsvScanner;
  rowsIn = 0;
  rowsOut = 0;
  rowsRejected = 0;
  headerSeen = false;
  readonly rejectsByRule: Partial<Record<RejectRule, number>> = {};
  /** Per reject not yet written, its row and line; its text after them in {@link rejectTexts}. */
  rejectAt: number[] = [];
  rejectTexts: string[] = [];
  private readonly columns: Column[];
  private readonly fields: FieldSplitter;
  /** Pieces of a record that spans chunks, while it is at most MAX_RECORD_BYTES long. */
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private rowValid = true;

  /**
   * @param firstLine file line of the input's first byte (`CsvChunkOptions.firstLine`).
   * @param rowOffset data rows of the file before the input's first record, added to the rejects' row numbers.
   */
  constructor(
    private readonly schema: CsvSchema,
    private readonly source: string,
    readonly out: RangeSink,
    firstLine: number,
    private readonly rowOffset: number,
    private readonly delimiter: CsvDelimiter,
    private readonly rows: ValidRowSink | undefined,
    columns: Column[] = compileColumns(schema),
  ) {
    this.scanner = new CsvScanner(source, this, firstLine, delimiter);
    this.columns = columns;
    this.fields = new FieldSplitter(this.columns.length, delimiter);
  }

  partial(chunk: Buffer, start: number, end: number): void {
    if (this.carryBytes <= MAX_RECORD_BYTES || this.carry.length === 0)
      this.carry.push(chunk.subarray(start, end));
    this.carryBytes += end - start;
  }

  record(chunk: Buffer, start: number, end: number, next: number): void {
    const carry = this.carry;
    const length = this.carryBytes + (end - start);
    if (length > MAX_RECORD_BYTES) {
      this.carry = [];
      this.carryBytes = 0;
      if (!this.headerSeen) throw this.headerTooLong();
      this.rowsIn++;
      this.rowsRejected++;
      // Its first bytes, wherever the input's pieces cut it.
      const limit = 4 * MAX_REJECT_VALUE_CHARS;
      const head: Buffer[] = [];
      let headBytes = 0;
      for (const piece of [...carry, chunk.subarray(start, end)]) {
        if (headBytes >= limit) break;
        head.push(piece);
        headBytes += piece.length;
      }
      const value = Buffer.concat(head).toString('utf8', 0, Math.min(headBytes, limit));
      this.reject('', 'record_too_long', value, `a record of at most ${MAX_RECORD_BYTES} bytes`);
      return;
    }
    if (carry.length === 0) {
      this.check(chunk, start, end, next);
      return;
    }
    this.carry = [];
    this.carryBytes = 0;
    carry.push(chunk.subarray(start, next));
    const whole = Buffer.concat(carry);
    this.check(whole, 0, whole.length - (next - end), whole.length);
  }

  private check(buf: Buffer, start: number, end: number, next: number): void {
    if (!this.headerSeen) {
      this.checkHeader(buf, start, end, this.scanner.recordQuoted);
      this.headerSeen = true;
      this.out.range(buf, start, next);
      return;
    }
    this.rowsIn++;
    this.rowValid = true;
    const columns = this.columns;
    const splitter = this.fields;
    const bounds = splitter.bounds;
    const quoted = this.scanner.recordQuoted;
    const fields = splitter.split(buf, start, end, quoted);
    if (fields !== columns.length) {
      this.reject(
        '',
        'field_count',
        buf.toString('utf8', start, Math.min(end, start + 4 * MAX_REJECT_VALUE_CHARS)),
        `${columns.length} fields, found ${fields}`,
      );
    } else {
      for (let c = 0; c < columns.length; c++) {
        const unquoted = quoted ? splitter.unquoted(buf, c) : undefined;
        if (unquoted) this.checkField(columns[c]!, unquoted, 0, unquoted.length);
        else this.checkField(columns[c]!, buf, bounds[2 * c]!, bounds[2 * c + 1]!);
      }
    }
    if (this.rowValid && this.rows && fields === columns.length) {
      const texts = Array.from({ length: fields }, (_, c) => splitter.text(buf, c));
      const refused = this.rows.row(texts, this.rowOffset + this.rowsIn);
      if (refused)
        this.reject(
          refused.column,
          refused.rule,
          texts[columns.findIndex((c) => c.name === refused.column)] ?? '',
          refused.expected,
        );
    }
    if (this.rowValid) {
      this.rowsOut++;
      this.out.range(buf, start, next);
      this.addStatistics();
    } else {
      this.rowsRejected++;
    }
  }

  private checkField(column: Column, buf: Buffer, start: number, end: number): void {
    const rule = failedRule(column, buf, start, end);
    if (rule !== undefined) this.reject(column.name, rule, buf.toString('utf8', start, end), column.expected);
  }

  /** Adds the numeric values of the valid record just checked to the statistics. */
  private addStatistics(): void {
    const columns = this.columns;
    for (let c = 0; c < columns.length; c++) {
      const column = columns[c]!;
      if (column.stats === undefined || !column.present) continue;
      column.stats.add(column.parsed, column.buf, column.start, column.end);
      if (column.totalsBy < 0) continue;
      const by = columns[column.totalsBy]!;
      if (by.present) column.stats.addToGroup(by.key, column.parsed);
    }
  }

  private reject(column: string, rule: RejectRule, value: string, expected: string): void {
    this.rowValid = false;
    this.rejectsByRule[rule] = (this.rejectsByRule[rule] ?? 0) + 1;
    this.rejectAt.push(this.rowOffset + this.rowsIn, this.scanner.recordLine);
    this.rejectTexts.push(`${csvField(column)},${rule},${csvField(clip(value))},${csvField(expected)}\n`);
  }

  /** The rejects lines not written yet, their rows and lines shifted by `rowShift` and `lineShift`. */
  takeRejects(rowShift: number, lineShift: number): string {
    const text = rejectLines(this.rejectAt, this.rejectTexts, rowShift, lineShift);
    this.rejectAt = [];
    this.rejectTexts = [];
    return text;
  }

  /**
   * Compares the header record `buf[start, end)` with the schema's columns.
   * @param quoted whether it has a quoted field (or may have: splitting as quoted is right for any record).
   * @throws InvalidInputError listing the expected and found columns.
   */
  checkHeader(buf: Buffer, start: number, end: number, quoted: boolean): void {
    const expected = this.columns.map((c) => c.name);
    const count = new FieldSplitter(0, this.delimiter).split(buf, start, end, quoted);
    const header = new FieldSplitter(count, this.delimiter);
    header.split(buf, start, end, quoted);
    const found = Array.from({ length: count }, (_, i) => header.text(buf, i));
    const at = expected.findIndex((name, i) => found[i] !== name);
    if (at === -1 && count === expected.length) return;
    const where =
      at === -1
        ? `${count - expected.length} extra column(s) after the last one`
        : `column ${at + 1} is ${found[at] === undefined ? 'missing' : JSON.stringify(found[at])}, expected ${JSON.stringify(expected[at])}`;
    throw new InvalidInputError(
      `${this.source}: the header does not match schema ${JSON.stringify(this.schema.name)}: ${where}. ` +
        `Expected ${expected.length} columns: ${expected.join(', ')}. ` +
        `Found ${count}: ${found.map((f) => clip(f)).join(', ')}.` +
        (count === 1 && expected.length > 1
          ? ` Its fields were read as separated by "${CSV_DELIMITER_NAMES[this.delimiter]}": if the file uses another separator, set x-amz-meta-csv-delimiter (or the schema's delimiter).`
          : ''),
    );
  }

  private headerTooLong(): InvalidInputError {
    return new InvalidInputError(
      `${this.source}: the header does not match schema ${JSON.stringify(this.schema.name)}: it is longer than ${MAX_RECORD_BYTES} bytes. ` +
        `Expected ${this.columns.length} columns: ${this.columns.map((c) => c.name).join(', ')}.`,
    );
  }

  /** Numeric statistics and totals of the valid records. */
  statistics(): Pick<ValidateCounts, 'columns' | 'totals'> {
    const columns: Record<string, NumericStats> = {};
    const totals: Record<string, Record<string, GroupTotal>> = {};
    for (const column of this.columns) {
      if (column.stats === undefined) continue;
      columns[column.name] = column.stats.stats();
      if (column.totalsBy < 0) continue;
      const by = this.columns[column.totalsBy]!;
      totals[column.name] = column.stats.groupTotals((key) => groupLabel(by, key));
    }
    return { columns, totals };
  }

  /** What this validator has seen so far. */
  counts(): ValidateCounts {
    const { headerSeen, rowsIn, rowsOut, rowsRejected, rejectsByRule } = this;
    const bareQuoteFields = this.scanner.bareQuoteFields;
    return {
      headerSeen,
      rowsIn,
      rowsOut,
      rowsRejected,
      bareQuoteFields,
      rejectsByRule,
      ...this.statistics(),
    };
  }
}

/** Adds `from`, the counts of the piece after those `into` holds, to them. */
export function addCounts(into: ValidateCounts, from: ValidateCounts): void {
  into.headerSeen ||= from.headerSeen;
  into.rowsIn += from.rowsIn;
  into.rowsOut += from.rowsOut;
  into.rowsRejected += from.rowsRejected;
  into.bareQuoteFields += from.bareQuoteFields;
  for (const [rule, n] of Object.entries(from.rejectsByRule) as [RejectRule, number][])
    into.rejectsByRule[rule] = (into.rejectsByRule[rule] ?? 0) + n;
  addColumnStatistics(into, from);
}

/**
 * A block's output, in the block's own memory: the valid records move forward over the rejected ones, a run
 * of consecutive valid records by one `copyWithin`, never overtaking the bytes still to be scanned.
 */
class InPlaceOutput {
  private written = 0;
  /** The run of valid records not moved yet. */
  private from = 0;
  private to = 0;

  constructor(private readonly block: Buffer) {}

  range(buf: Buffer, start: number, end: number): void {
    if (buf === this.block && start === this.to) {
      this.to = end;
      return;
    }
    this.move();
    if (buf === this.block) {
      this.from = start;
      this.to = end;
    } else {
      // A record put together from pieces (the last one, without terminator): no longer than where it was.
      this.written += buf.copy(this.block, this.written, start, end);
    }
  }

  take(): Buffer {
    this.move();
    return this.block.subarray(0, this.written);
  }

  private move(): void {
    if (this.from !== this.written) this.block.copyWithin(this.written, this.from, this.to);
    this.written += this.to - this.from;
    this.from = this.to = 0;
  }
}

/** A worker thread's counts for one block it validated, and its rejects (rows and lines in the block). */
export type ValidatedBlock = ValidateCounts & { rejectAt: number[]; rejectTexts: string[] };

/**
 * What a worker thread validates each block of whole records with, its valid records kept in the block's own
 * memory. The columns are compiled once per thread and their statistics reset for each block.
 */
export function blockValidator({ source, schema, delimiter }: ValidateWorkerData) {
  const columns = compileColumns(schema);
  return (block: Buffer, request: Omit<BlockRequest, 'seq' | 'block'>): BlockOutput & ValidatedBlock => {
    for (const column of columns) column.stats?.reset();
    const out = new InPlaceOutput(block);
    const validator = new Validator(schema, source, out, request.firstLine, 0, delimiter, undefined, columns);
    validator.headerSeen = request.headerDone;
    validator.scanner.push(block);
    if (request.final) validator.scanner.finish();
    return {
      output: out.take(),
      lines: validator.scanner.currentLine - request.firstLine,
      ...validator.counts(),
      rejectAt: validator.rejectAt,
      rejectTexts: validator.rejectTexts,
    };
  };
}
