/**
 * The daily report's calendar (contract/schedule.ts): dates, the UTC day a run reports on, and the backfill
 * range that holds exactly the runs of the dates asked for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addDays, datesBetween, isDate } from '../contract/dates';
import { backfillRange, isTimeOfDay, reportDateFor } from '../contract/schedule';

describe('the daily report calendar', () => {
  it('takes real dates and times of day only', () => {
    assert.ok(isDate('2024-02-29'));
    for (const bad of ['2025-02-29', '2025-13-01', '2025-1-5', '20250105', '2025-01-15T00:00'])
      assert.ok(!isDate(bad), bad);
    assert.ok(isTimeOfDay('00:00') && isTimeOfDay('23:59'));
    for (const bad of ['24:00', '2:00', '02:60', '02:00:00']) assert.ok(!isTimeOfDay(bad), bad);
  });

  it('counts days across months, years and leap days', () => {
    assert.equal(addDays('2024-02-28', 1), '2024-02-29');
    assert.equal(addDays('2025-01-01', -1), '2024-12-31');
    assert.deepEqual(datesBetween('2024-12-30', '2025-01-02'), [
      '2024-12-30',
      '2024-12-31',
      '2025-01-01',
      '2025-01-02',
    ]);
    assert.deepEqual(datesBetween('2025-01-02', '2025-01-01'), []);
  });

  it('reports on the UTC day before a run, and backfills the runs of exactly the dates asked for', () => {
    // 02:00 in Paris in winter, 23:30 in New York, 02:00 in Tokyo: each a run of a different UTC day.
    assert.equal(reportDateFor(new Date('2025-01-16T01:00:00Z')), '2025-01-15');
    assert.equal(reportDateFor(new Date('2025-01-17T04:30:00Z')), '2025-01-16');
    assert.equal(reportDateFor(new Date('2025-01-15T17:00:00Z')), '2025-01-14');
    const { start, end } = backfillRange('2025-01-14', '2025-01-16');
    for (const run of ['2025-01-15T00:00:00Z', '2025-01-16T12:00:00Z', '2025-01-17T23:59:59Z']) {
      const at = new Date(run);
      assert.ok(at >= start && at <= end, run);
      assert.ok(['2025-01-14', '2025-01-15', '2025-01-16'].includes(reportDateFor(at)), run);
    }
    // The runs of the dates before and after are not in it.
    assert.ok(new Date('2025-01-14T23:59:59.999Z') < start);
    assert.ok(new Date('2025-01-18T00:00:00Z') > end);
  });
});
