/**
 * The `csv-validate` job: keeps the records of a CSV file that match a schema ({@link CsvSchema}) and lists
 * why each other record failed in a rejects file, instead of failing the run on the first bad row.
 *
 * The shared scanner finds the records; each is split into fields with native `indexOf`, and the checks
 * read the bytes in place: no string is made for a valid field that is not quoted. Valid records are
 * copied to the output as found, so consecutive valid records leave as one slice of the input chunk.
 * Numeric columns are summed exactly (scaled integers, in doubles while they are exact, BigInt beyond).
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import {
  CsvScanner,
  FieldSplitter,
  OutputBuilder,
  UTF8_BOM,
  asBuffers,
  csvField,
  stripBom,
  writeAhead,
  type CsvChunkOptions,
  type CsvRecordHandler,
} from '../csv/scanner';
import { InvalidInputError } from '../contract/errors';
import type { ColumnSchema, CsvSchema } from './schema';

/** A record longer than this is rejected without being held in memory (rule `record_too_long`). */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** Header of the rejects file: one line per failed check, several per record if several fields fail. */
export const REJECTS_HEADER = 'row,line,column,rule,value,expected\n';
/** Values longer than this are cut in the rejects file. */
const MAX_REJECT_VALUE_CHARS = 256;

/** Why a record was rejected: the `rule` column of the rejects file. */
export type RejectRule =
  'field_count' | 'record_too_long' | 'required' | 'integer' | 'decimal' | 'date' | 'currency' | 'enum';

/** Options of {@link csvValidate}; for a chunk of a file, see {@link CsvChunkOptions}. */
export interface CsvValidateOptions extends CsvChunkOptions {
  schema: CsvSchema;
  /** Name of the input (path or `s3://` URI), used in messages. */
  source: string;
  /** Overrides the schema's `maxRejectedPercent`. */
  maxRejectedPercent?: number | undefined;
  /**
   * Fail the run when more than the allowed share of rows is rejected. False for a chunk: the share is only
   * meaningful for the whole file, so whoever runs the chunks applies it to their summed counts.
   * @default true
   */
  applyThreshold?: boolean | undefined;
  /** Where the rejects go, named in the message when too many rows are rejected. */
  rejectsName?: string;
}

/** Exact statistics of the valid values of a numeric column; `sum`, `min` and `max` are decimal strings. */
export interface NumericStats {
  count: number;
  sum: string;
  min: string | null;
  max: string | null;
}

/** What one {@link csvValidate} run saw. */
export interface CsvValidateResult {
  schema: string;
  /** The largest share of rejected rows allowed, in percent: `maxRejectedPercent` or the schema's. */
  maxRejectedPercent: number;
  /** Data records read (header and blank lines excluded). */
  rowsIn: number;
  /** Valid records, written to the output. */
  rowsOut: number;
  /** Records that failed a check; `rowsIn = rowsOut + rowsRejected`. */
  rowsRejected: number;
  /** Failed checks per rule (a record may fail several). */
  rejectsByRule: Partial<Record<RejectRule, number>>;
  /** Per numeric column, over the valid records. */
  columns: Record<string, NumericStats>;
  /** Per numeric column with `totalsBy`: count and sum per value of that column, over the valid records. */
  totals: Record<string, Record<string, { count: number; sum: string }>>;
}

/** More records were rejected than the schema (or `MAX_REJECTED_PERCENT`) allows: the file fails whole. */
export class RejectThresholdError extends InvalidInputError {
  override name = 'RejectThresholdError';
}

// Column kinds, as numbers so that the per-field switch is cheap.
const STRING = 0;
const INTEGER = 1;
const DECIMAL = 2;
const DATE = 3;
const CURRENCY = 4;
const ENUM = 5;
const KIND = {
  string: STRING,
  integer: INTEGER,
  decimal: DECIMAL,
  date: DATE,
  currency: CURRENCY,
  enum: ENUM,
};

const ZERO = 0x30;
const DASH = 0x2d;
const PLUS = 0x2b;
const POINT = 0x2e;
const UPPER_A = 0x41;
const UPPER_Z = 0x5a;
/** Numbers with at most this many digits are exact in a double, and so are their scaled sums. */
const EXACT_DIGITS = 15;
const POW10 = Array.from({ length: EXACT_DIGITS + 1 }, (_, i) => 10 ** i);

/** A parsed integer or decimal: value = ±mantissa / 10^scale. `mantissa` is exact only if `exact`. */
interface ParsedNumber {
  negative: boolean;
  mantissa: number;
  scale: number;
  exact: boolean;
  /** The field's text, kept only when it is not exact (to redo it in BigInt). */
  text: string;
}

/**
 * Parses `[+-]?(digits[.digits]|.digits)` (no point if `allowPoint` is false) from `buf[start, end)` into
 * `out`. Stricter than Python's `Decimal()` on purpose: no exponent, NaN, Infinity, spaces or underscores.
 */
function parseNumber(
  buf: Buffer,
  start: number,
  end: number,
  allowPoint: boolean,
  out: ParsedNumber,
): boolean {
  let i = start;
  let negative = false;
  const first = buf[i];
  if (first === DASH) {
    negative = true;
    i++;
  } else if (first === PLUS) {
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  let point = false;
  for (; i < end; i++) {
    const d = buf[i]! - ZERO;
    if (d >= 0 && d <= 9) {
      mantissa = mantissa * 10 + d;
      digits++;
      if (point) scale++;
    } else if (d === POINT - ZERO && allowPoint && !point) {
      point = true;
    } else {
      return false;
    }
  }
  if (digits === 0) return false;
  out.negative = negative;
  out.mantissa = mantissa;
  out.scale = scale;
  out.exact = digits <= EXACT_DIGITS;
  out.text = out.exact ? '' : buf.toString('latin1', start, end);
  return true;
}

/** The value of `n` in units of 10^-scale (scale ≥ n.scale), exactly. */
function scaled(n: ParsedNumber, scale: number): bigint {
  const units = n.exact ? BigInt(n.mantissa) : BigInt(n.text.replace(/[+\-.]/g, ''));
  const value = units * 10n ** BigInt(scale - n.scale);
  return n.negative ? -value : value;
}

/** An exact running sum of decimals: (big + small) / 10^scale, `small` a double while it is exact. */
class ExactSum {
  private scale = 0;
  private big = 0n;
  private small = 0;

  add(n: ParsedNumber): void {
    if (n.scale > this.scale) {
      this.big = (this.big + BigInt(this.small)) * 10n ** BigInt(n.scale - this.scale);
      this.small = 0;
      this.scale = n.scale;
    }
    const shift = this.scale - n.scale;
    if (n.exact && shift <= EXACT_DIGITS) {
      // Exact as long as the results stay safe integers: a product or sum above 2^53 rounds to ≥ 2^53.
      const units = n.mantissa * POW10[shift]!;
      const next = this.small + (n.negative ? -units : units);
      if (units <= Number.MAX_SAFE_INTEGER && Math.abs(next) <= Number.MAX_SAFE_INTEGER) {
        this.small = next;
        return;
      }
    }
    this.big += scaled(n, this.scale);
  }

  toString(): string {
    return formatScaled(this.big + BigInt(this.small), this.scale);
  }
}

function formatScaled(units: bigint, scale: number): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${whole}` : whole;
}

/** An extreme value seen: its double for fast comparison, its text as found. */
interface Extreme {
  approx: number;
  exact: boolean;
  number: ParsedNumber;
  text: string;
}

/** Compares `n` (whose double is `approx`) with an extreme: exactly, in BigInt only when doubles may not tell. */
function compareTo(n: ParsedNumber, approx: number, x: Extreme): number {
  // Distinct decimals of at most 15 digits have distinct doubles, in the same order.
  if (n.exact && x.exact) return approx - x.approx;
  const scale = Math.max(n.scale, x.number.scale);
  const a = scaled(n, scale);
  const b = scaled(x.number, scale);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Count, exact sum, min and max of a numeric column's valid values. */
class NumericAccumulator {
  count = 0;
  readonly sum = new ExactSum();
  min: Extreme | undefined;
  max: Extreme | undefined;

  add(n: ParsedNumber, buf: Buffer, start: number, end: number): void {
    this.count++;
    this.sum.add(n);
    const approx = (n.negative ? -n.mantissa : n.mantissa) / (n.exact ? POW10[n.scale]! : 10 ** n.scale);
    if (this.min === undefined || compareTo(n, approx, this.min) < 0) {
      this.min = extreme(n, approx, buf, start, end);
    }
    if (this.max === undefined || compareTo(n, approx, this.max) > 0) {
      this.max = extreme(n, approx, buf, start, end);
    }
  }

  stats(): NumericStats {
    return {
      count: this.count,
      sum: this.sum.toString(),
      min: this.min?.text ?? null,
      max: this.max?.text ?? null,
    };
  }
}

function extreme(n: ParsedNumber, approx: number, buf: Buffer, start: number, end: number): Extreme {
  return { approx, exact: n.exact, number: { ...n }, text: buf.toString('latin1', start, end) };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** `YYYY-MM-DD` and a real date of the proleptic Gregorian calendar. */
function isDate(buf: Buffer, start: number, end: number): boolean {
  if (end - start !== 10 || buf[start + 4] !== DASH || buf[start + 7] !== DASH) return false;
  let year = 0;
  for (let i = start; i < start + 4; i++) {
    const d = buf[i]! - ZERO;
    if (d < 0 || d > 9) return false;
    year = year * 10 + d;
  }
  const m1 = buf[start + 5]! - ZERO;
  const m2 = buf[start + 6]! - ZERO;
  const d1 = buf[start + 8]! - ZERO;
  const d2 = buf[start + 9]! - ZERO;
  if (m1 < 0 || m1 > 9 || m2 < 0 || m2 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return false;
  const month = m1 * 10 + m2;
  const day = d1 * 10 + d2;
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

/** 3 upper-case ASCII letters as a number below 26^3, or -1. */
function currencyKey(buf: Buffer, start: number, end: number): number {
  if (end - start !== 3) return -1;
  let key = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b < UPPER_A || b > UPPER_Z) return -1;
    key = key * 26 + (b - UPPER_A);
  }
  return key;
}

function currencyCode(key: number): string {
  return String.fromCharCode(
    UPPER_A + Math.floor(key / 676),
    UPPER_A + (Math.floor(key / 26) % 26),
    UPPER_A + (key % 26),
  );
}

/** The count and sum of one value of a `totalsBy` column. */
interface Group {
  count: number;
  sum: ExactSum;
}

/** A column compiled for the per-record checks. */
interface Column {
  name: string;
  kind: number;
  required: boolean;
  /** What the rejects file says a value should be. */
  expected: string;
  /** Currency: allowed keys (undefined: any code). */
  codes: Uint8Array | undefined;
  /** Enum: the values as bytes. */
  values: Buffer[];
  /** Numeric columns: the accumulator, and the column whose value groups the totals. */
  stats: NumericAccumulator | undefined;
  totalsBy: number;
  /** Totals indexed by group key (a currency key or an enum value's index): an array, cheaper than a Map. */
  totals: (Group | undefined)[];
  /** The value checked in the current record, for the statistics of a valid record. */
  parsed: ParsedNumber;
  present: boolean;
  key: number;
  buf: Buffer;
  start: number;
  end: number;
}

function expectedOf(c: ColumnSchema): string {
  switch (c.type) {
    case 'string':
      return 'a value';
    case 'integer':
      return 'an integer such as -42';
    case 'decimal':
      return 'a decimal number such as -12.50';
    case 'date':
      return 'a calendar date YYYY-MM-DD';
    case 'currency':
      return c.codes ? `one of ${c.codes.join(' ')}` : 'a currency code of 3 upper-case letters';
    case 'enum':
      return `one of ${c.values.join(' | ')}`;
  }
}

function compile(schema: CsvSchema): Column[] {
  const index = new Map(schema.columns.map((c, i) => [c.name, i]));
  return schema.columns.map((c) => {
    let codes: Uint8Array | undefined;
    if (c.type === 'currency' && c.codes) {
      codes = new Uint8Array(26 * 26 * 26);
      for (const code of c.codes) codes[currencyKey(Buffer.from(code), 0, 3)] = 1;
    }
    const numeric = c.type === 'integer' || c.type === 'decimal';
    const by = numeric && c.totalsBy !== undefined ? schema.columns[index.get(c.totalsBy)!] : undefined;
    const groups = by?.type === 'enum' ? by.values.length : by?.type === 'currency' ? 26 * 26 * 26 : 0;
    return {
      name: c.name,
      kind: KIND[c.type],
      required: c.required,
      expected: expectedOf(c),
      codes,
      values: c.type === 'enum' ? c.values.map((v) => Buffer.from(v, 'utf8')) : [],
      stats: numeric ? new NumericAccumulator() : undefined,
      totalsBy: numeric && c.totalsBy !== undefined ? index.get(c.totalsBy)! : -1,
      // Filled up front: a dense array stays fast whichever keys are seen.
      totals: new Array<Group | undefined>(groups).fill(undefined),
      parsed: { negative: false, mantissa: 0, scale: 0, exact: true, text: '' },
      present: false,
      key: -1,
      buf: UTF8_BOM,
      start: 0,
      end: 0,
    };
  });
}

function clip(value: string): string {
  return value.length > MAX_REJECT_VALUE_CHARS ? `${value.slice(0, MAX_REJECT_VALUE_CHARS)}…` : value;
}

/** Checks each record and routes it to the output or the rejects. */
class Validator implements CsvRecordHandler {
  readonly scanner: CsvScanner;
  rowsIn = 0;
  rowsOut = 0;
  rowsRejected = 0;
  headerSeen = false;
  readonly rejectsByRule: Partial<Record<RejectRule, number>> = {};
  /** Rejects lines not yet written. */
  rejectLines: string[] = [];
  private readonly columns: Column[];
  private readonly fields: FieldSplitter;
  /** Pieces of a record that spans chunks, while it is at most MAX_RECORD_BYTES long. */
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private rowValid = true;

  /**
   * @param firstLine file line of the input's first byte ({@link CsvChunkOptions.firstLine}).
   * @param rowOffset data rows of the file before the input's first record, added to the rejects' row numbers.
   */
  constructor(
    private readonly schema: CsvSchema,
    private readonly source: string,
    readonly out: OutputBuilder,
    firstLine: number,
    private readonly rowOffset: number,
  ) {
    this.scanner = new CsvScanner(source, this, firstLine);
    this.columns = compile(schema);
    this.fields = new FieldSplitter(this.columns.length);
  }

  partial(chunk: Buffer, start: number, end: number): void {
    if (this.carryBytes <= MAX_RECORD_BYTES || this.carry.length === 0)
      this.carry.push(chunk.subarray(start, end));
    this.carryBytes += end - start;
  }

  record(chunk: Buffer, start: number, end: number, next: number): void {
    if (this.carryBytes === 0) {
      this.check(chunk, start, end, next);
      return;
    }
    const carry = this.carry;
    const length = this.carryBytes + (end - start);
    this.carry = [];
    this.carryBytes = 0;
    if (length > MAX_RECORD_BYTES) {
      if (!this.headerSeen) throw this.headerTooLong();
      this.rowsIn++;
      this.rowsRejected++;
      const head = carry[0]!.subarray(0, 4 * MAX_REJECT_VALUE_CHARS).toString('utf8');
      this.reject('', 'record_too_long', head, `a record of at most ${MAX_RECORD_BYTES} bytes`);
      return;
    }
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
    if (this.rowValid) {
      this.rowsOut++;
      this.out.range(buf, start, next);
      this.addStatistics();
    } else {
      this.rowsRejected++;
    }
  }

  private checkField(column: Column, buf: Buffer, start: number, end: number): void {
    column.present = end > start;
    if (!column.present) {
      if (column.required) this.reject(column.name, 'required', '', column.expected);
      return;
    }
    switch (column.kind) {
      case STRING:
        return;
      case INTEGER:
      case DECIMAL:
        if (parseNumber(buf, start, end, column.kind === DECIMAL, column.parsed)) {
          column.buf = buf;
          column.start = start;
          column.end = end;
        } else {
          this.failField(column, column.kind === DECIMAL ? 'decimal' : 'integer', buf, start, end);
        }
        return;
      case DATE:
        if (!isDate(buf, start, end)) this.failField(column, 'date', buf, start, end);
        return;
      case CURRENCY: {
        const key = currencyKey(buf, start, end);
        if (key < 0 || (column.codes !== undefined && column.codes[key] === 0)) {
          this.failField(column, 'currency', buf, start, end);
        }
        column.key = key;
        return;
      }
      case ENUM: {
        const length = end - start;
        const values = column.values;
        for (let v = 0; v < values.length; v++) {
          const value = values[v]!;
          if (value.length === length && buf.compare(value, 0, length, start, end) === 0) {
            column.key = v;
            return;
          }
        }
        this.failField(column, 'enum', buf, start, end);
      }
    }
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
      if (!by.present) continue;
      let group = column.totals[by.key];
      if (group === undefined) column.totals[by.key] = group = { count: 0, sum: new ExactSum() };
      group.count++;
      group.sum.add(column.parsed);
    }
  }

  private failField(column: Column, rule: RejectRule, buf: Buffer, start: number, end: number): void {
    this.reject(column.name, rule, buf.toString('utf8', start, end), column.expected);
  }

  private reject(column: string, rule: RejectRule, value: string, expected: string): void {
    this.rowValid = false;
    this.rejectsByRule[rule] = (this.rejectsByRule[rule] ?? 0) + 1;
    this.rejectLines.push(
      `${this.rowOffset + this.rowsIn},${this.scanner.recordLine},${csvField(column)},${rule},${csvField(clip(value))},${csvField(expected)}\n`,
    );
  }

  /**
   * Compares the header record `buf[start, end)` with the schema's columns.
   * @param quoted whether it has a quoted field (or may have: splitting as quoted is right for any record).
   * @throws InvalidInputError listing the expected and found columns.
   */
  checkHeader(buf: Buffer, start: number, end: number, quoted: boolean): void {
    const expected = this.columns.map((c) => c.name);
    const count = new FieldSplitter(0).split(buf, start, end, quoted);
    const header = new FieldSplitter(count);
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
        `Found ${count}: ${found.map((f) => clip(f)).join(', ')}.`,
    );
  }

  private headerTooLong(): InvalidInputError {
    return new InvalidInputError(
      `${this.source}: the header does not match schema ${JSON.stringify(this.schema.name)}: it is longer than ${MAX_RECORD_BYTES} bytes. ` +
        `Expected ${this.columns.length} columns: ${this.columns.map((c) => c.name).join(', ')}.`,
    );
  }

  /** Numeric statistics and totals of the valid records. */
  statistics(): Pick<CsvValidateResult, 'columns' | 'totals'> {
    const columns: Record<string, NumericStats> = {};
    const totals: Record<string, Record<string, { count: number; sum: string }>> = {};
    for (const column of this.columns) {
      if (column.stats === undefined) continue;
      columns[column.name] = column.stats.stats();
      if (column.totalsBy < 0) continue;
      const by = this.columns[column.totalsBy]!;
      const label = (key: number) => (by.kind === CURRENCY ? currencyCode(key) : by.values[key]!.toString());
      const groups = column.totals.flatMap((g, key) =>
        g ? [[label(key), { count: g.count, sum: g.sum.toString() }] as const] : [],
      );
      totals[column.name] = Object.fromEntries(groups.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return { columns, totals };
  }
}

async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

const formatCount = (n: number) => n.toLocaleString('en-US');

/**
 * Streams the records of `input` that match `opts.schema` to `output` (the header first, then each valid
 * record's bytes as found, a leading BOM kept, blank lines dropped) and writes one line per failed check to
 * `rejects` ({@link REJECTS_HEADER}, always written). Resolves once both have finished.
 *
 * With `opts.header` the input is a chunk after the first ({@link CsvChunkOptions}): that header is checked
 * instead, and neither output gets a header (nor a BOM); `opts.firstRow` and `opts.firstLine` make the row and
 * line numbers of rejects and errors the file's. A chunk's run sets `applyThreshold: false`.
 *
 * @throws InvalidInputError if the CSV is broken (see {@link CsvScanner}), has no header or a header other
 *   than the schema's columns: `output` and `rejects` are then destroyed, and may hold a prefix.
 * @throws RejectThresholdError, after reading everything, if more than the allowed percentage of records
 *   was rejected: `output` is destroyed (nothing valid is kept), `rejects` is complete and has finished.
 */
export async function csvValidate(
  input: AsyncIterable<Buffer> | NodeJS.ReadableStream,
  output: Writable,
  rejects: Writable,
  opts: CsvValidateOptions,
): Promise<CsvValidateResult> {
  const { schema, source, header } = opts;
  const limit = opts.maxRejectedPercent ?? schema.maxRejectedPercent;
  const out = new OutputBuilder();
  const validator = new Validator(schema, source, out, opts.firstLine ?? 1, (opts.firstRow ?? 1) - 1);

  const flushRejects = async () => {
    if (validator.rejectLines.length === 0) return;
    const text = validator.rejectLines.join('');
    validator.rejectLines = [];
    await write(rejects, text);
  };

  async function* validate(chunks: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
    if (header === undefined) {
      await write(rejects, REJECTS_HEADER);
    } else {
      // A chunk after the first: its header was the file's, checked here, and neither output repeats it.
      const bytes = Buffer.from(header, 'utf8');
      validator.checkHeader(bytes, 0, bytes.length, true);
      validator.headerSeen = true;
    }
    const input = header === undefined ? stripBom(chunks, () => out.bytes(UTF8_BOM)) : asBuffers(chunks);
    for await (const chunk of input) {
      validator.scanner.push(chunk);
      const bytes = out.take();
      if (bytes.length > 0) yield bytes;
      await flushRejects();
    }
    validator.scanner.finish();
    if (!validator.headerSeen) {
      throw new InvalidInputError(
        `${source}: no header: the file is empty or has only blank lines; expected a header with the columns of schema ${JSON.stringify(schema.name)}: ${schema.columns.map((c) => c.name).join(', ')}.`,
      );
    }
    const rest = out.take();
    if (rest.length > 0) yield rest;
    await flushRejects();
    rejects.end();
    await finished(rejects, { readable: false });
    const { rowsIn, rowsRejected } = validator;
    // Failing here, before the generator returns, makes the pipeline destroy the output instead of ending it.
    if (opts.applyThreshold !== false && rowsRejected * 100 > limit * rowsIn) {
      const percent = ((rowsRejected * 100) / rowsIn).toFixed(2);
      const rules = Object.entries(validator.rejectsByRule)
        .map(([rule, n]) => `${rule} ${formatCount(n)}`)
        .join(', ');
      throw new RejectThresholdError(
        `${source}: ${formatCount(rowsRejected)} of ${formatCount(rowsIn)} rows (${percent}%) were rejected, ` +
          `more than the ${limit}% allowed (schema ${JSON.stringify(schema.name)}; MAX_REJECTED_PERCENT overrides it). ` +
          `Failed checks: ${rules}. No output was written; the rejects file${opts.rejectsName ? ` ${opts.rejectsName}` : ''} lists every failure.`,
      );
    }
  }

  try {
    await pipeline(input, validate, writeAhead(), output);
  } catch (err) {
    if (!(err instanceof RejectThresholdError)) rejects.destroy();
    throw err;
  }
  const { rowsIn, rowsOut, rowsRejected, rejectsByRule } = validator;
  return {
    schema: schema.name,
    maxRejectedPercent: limit,
    rowsIn,
    rowsOut,
    rowsRejected,
    rejectsByRule,
    ...validator.statistics(),
  };
}
