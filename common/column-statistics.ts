/**
 * The sum of csv-validate's column statistics over pieces of a file (the blocks of a parallel run, the
 * chunks of a fanned-out file): the figures one run over the whole file gives, in the same order.
 */
import type { NumericStats, ValueTotal } from '../contract/reports';
import { addDecimals, compareDecimals } from './decimal';

/** A run's statistics per numeric column, and its totals per value of the column's `totalsBy`. */
export interface ColumnStatistics {
  columns: Record<string, NumericStats>;
  totals: Record<string, Record<string, ValueTotal>>;
}

/**
 * Adds `from`, the statistics of the piece after those `into` holds, to them. A minimum or maximum tied with
 * `into`'s keeps `into`'s text (`1.50` before `1.5`), as one run keeps the first; totals stay in the order of
 * their values' UTF-16 code units, as one run lists them.
 */
export function addColumnStatistics(into: ColumnStatistics, from: Partial<ColumnStatistics>): void {
  for (const [name, c] of Object.entries(from.columns ?? {})) {
    const sum = (into.columns[name] ??= { count: 0, sum: '0', min: null, max: null });
    sum.count += c.count;
    sum.sum = addDecimals(sum.sum, c.sum);
    if (c.min !== null && (sum.min === null || compareDecimals(c.min, sum.min) < 0)) sum.min = c.min;
    if (c.max !== null && (sum.max === null || compareDecimals(c.max, sum.max) > 0)) sum.max = c.max;
  }
  for (const [column, byValue] of Object.entries(from.totals ?? {})) {
    const totals = { ...into.totals[column] };
    for (const [value, t] of Object.entries(byValue)) {
      const total = (totals[value] ??= { count: 0, sum: '0' });
      total.count += t.count;
      total.sum = addDecimals(total.sum, t.sum);
    }
    into.totals[column] = Object.fromEntries(
      Object.entries(totals).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  }
}
