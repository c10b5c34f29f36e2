/**
 * The rules of `csv-validate`: a schema's columns compiled for the per-record checks, and the check of one
 * field against its column, reading the bytes in place (see common/schema.ts for what each type allows).
 */
import { Decimal } from '../common/decimal';
import { UTF8_BOM } from '../csv/streams';
import { NumericStatistics } from './csv-statistics';
import type { ColumnSchema, ColumnType, CsvSchema } from '../common/schema';

/** Why a record was rejected: the `rule` column of the rejects file. */
export type RejectRule =
  | 'field_count'
  | 'record_too_long'
  | 'required'
  | 'integer'
  | 'decimal'
  | 'date'
  | 'currency'
  | 'enum'
  // csv-to-dynamodb: a number with more significant digits than DynamoDB keeps (processors/dynamodb-items.ts).
  | 'number_too_precise';

// Column kinds, as numbers so that the per-field switch is cheap.
const [STRING, INTEGER, DECIMAL, DATE, CURRENCY, ENUM] = [0, 1, 2, 3, 4, 5] as const;
const KIND: Record<ColumnType, number> = {
  string: STRING,
  integer: INTEGER,
  decimal: DECIMAL,
  date: DATE,
  currency: CURRENCY,
  enum: ENUM,
};

/** A column compiled for the per-record checks. */
export interface Column {
  name: string;
  kind: number;
  required: boolean;
  /** What the rejects file says a value should be. */
  expected: string;
  /** Currency: allowed keys (undefined: any code). */
  codes: Uint8Array | undefined;
  /** Enum: the values as bytes. */
  values: Buffer[];
  /** Numeric columns: the statistics, and the column whose value groups the totals (-1: none). */
  stats: NumericStatistics | undefined;
  totalsBy: number;
  /** The value checked in the current record, for the statistics of a valid record. */
  parsed: Decimal;
  present: boolean;
  /** Currency or enum: the group key of the current value (a currency key or an enum value's index). */
  key: number;
  buf: Buffer;
  start: number;
  end: number;
}

const ZERO = 0x30;
const DASH = 0x2d;
const UPPER_A = 0x41;
const UPPER_Z = 0x5a;

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

/** The value of a currency or enum column that group key `key` stands for. */
export function groupLabel(column: Column, key: number): string {
  return column.kind === CURRENCY ? currencyCode(key) : column.values[key]!.toString();
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

/** The columns of `schema`, in its order, ready for {@link failedRule}. */
export function compileColumns(schema: CsvSchema): Column[] {
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
      stats: numeric ? new NumericStatistics(groups) : undefined,
      totalsBy: numeric && c.totalsBy !== undefined ? index.get(c.totalsBy)! : -1,
      parsed: new Decimal(),
      present: false,
      key: -1,
      buf: UTF8_BOM,
      start: 0,
      end: 0,
    };
  });
}

/**
 * Checks the field `buf[start, end)` against `column` and keeps in it what the statistics of a valid record
 * need (`present`, the parsed number and its bytes, the group key).
 * @returns the rule the field fails, or undefined if it is valid.
 */
export function failedRule(column: Column, buf: Buffer, start: number, end: number): RejectRule | undefined {
  column.present = end > start;
  if (!column.present) return column.required ? 'required' : undefined;
  switch (column.kind) {
    case STRING:
      return undefined;
    case INTEGER:
    case DECIMAL:
      if (!column.parsed.parse(buf, start, end, column.kind === DECIMAL)) {
        return column.kind === DECIMAL ? 'decimal' : 'integer';
      }
      column.buf = buf;
      column.start = start;
      column.end = end;
      return undefined;
    case DATE:
      return isDate(buf, start, end) ? undefined : 'date';
    case CURRENCY: {
      const key = currencyKey(buf, start, end);
      column.key = key;
      return key < 0 || (column.codes !== undefined && column.codes[key] === 0) ? 'currency' : undefined;
    }
    case ENUM: {
      const length = end - start;
      const values = column.values;
      for (let v = 0; v < values.length; v++) {
        const value = values[v]!;
        if (value.length === length && buf.compare(value, 0, length, start, end) === 0) {
          column.key = v;
          return undefined;
        }
      }
      return 'enum';
    }
  }
  return undefined;
}
