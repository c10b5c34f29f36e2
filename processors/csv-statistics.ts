/**
 * The column statistics of `csv-validate`: count, exact sum, minimum and maximum of each numeric column over
 * the valid records, and count and sum per value of its `totalsBy` column. The arithmetic is
 * `common/decimal.ts`, whose strings the chunk merge adds up to the same digits.
 */
import { DecimalSum, compareDecimal, type Decimal } from '../common/decimal';

/** Exact statistics of the valid values of a numeric column; `sum`, `min` and `max` are decimal strings. */
export interface NumericStats {
  count: number;
  sum: string;
  min: string | null;
  max: string | null;
}

/** Count and exact sum of the values of one group (one value of the `totalsBy` column). */
export interface GroupTotal {
  count: number;
  sum: string;
}

/** An extreme value seen: its double for fast comparison, its text as found. */
interface Extreme {
  approx: number;
  value: Decimal;
  text: string;
}

interface Group {
  count: number;
  sum: DecimalSum;
}

/** The statistics of one numeric column, fed one valid value at a time. */
export class NumericStatistics {
  private count = 0;
  private sum = new DecimalSum();
  private min: Extreme | undefined;
  private max: Extreme | undefined;
  /** Totals indexed by group key (a currency key or an enum value's index): an array, cheaper than a Map. */
  private readonly totals: (Group | undefined)[];
  /** The keys of {@link totals} in use: a currency column has 17,576 possible keys, and a few. */
  private seen: number[] = [];

  /** @param groups how many group keys there may be (0: no totals). */
  constructor(groups: number) {
    // Filled up front: a dense array stays fast whichever keys are seen.
    this.totals = new Array<Group | undefined>(groups).fill(undefined);
  }

  /** Adds `n`, parsed from `buf[start, end)` (the text that `min` and `max` report). */
  add(n: Decimal, buf: Buffer, start: number, end: number): void {
    this.count++;
    this.sum.add(n);
    const approx = n.approx();
    if (this.min === undefined || compareDecimal(n, approx, this.min.value, this.min.approx) < 0) {
      this.min = extreme(n, approx, buf, start, end);
    }
    if (this.max === undefined || compareDecimal(n, approx, this.max.value, this.max.approx) > 0) {
      this.max = extreme(n, approx, buf, start, end);
    }
  }

  /** Adds `n` to the totals of group `key`. */
  addToGroup(key: number, n: Decimal): void {
    let group = this.totals[key];
    if (group === undefined) {
      this.totals[key] = group = { count: 0, sum: new DecimalSum() };
      this.seen.push(key);
    }
    group.count++;
    group.sum.add(n);
  }

  stats(): NumericStats {
    return {
      count: this.count,
      sum: this.sum.toString(),
      min: this.min?.text ?? null,
      max: this.max?.text ?? null,
    };
  }

  /** The totals of the groups seen, by their labels, in the order of the labels' UTF-16 code units. */
  groupTotals(label: (key: number) => string): Record<string, GroupTotal> {
    const groups = this.seen.map((key) => {
      const g = this.totals[key]!;
      return [label(key), { count: g.count, sum: g.sum.toString() }] as const;
    });
    return Object.fromEntries(groups.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /**
   * Forgets every value, keeping the memory of the totals: a worker thread starts each block of a parallel
   * validate from here, instead of filling a new array of 17,576 keys (140 KB) per block of 1 MiB.
   */
  reset(): void {
    this.count = 0;
    this.sum = new DecimalSum();
    this.min = this.max = undefined;
    for (const key of this.seen) this.totals[key] = undefined;
    this.seen = [];
  }
}

function extreme(n: Decimal, approx: number, buf: Buffer, start: number, end: number): Extreme {
  return { approx, value: n.copy(), text: buf.toString('latin1', start, end) };
}
