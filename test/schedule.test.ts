/**
 * The daily report's calendar (contract/schedule.ts): dates, wall-clock times in a time zone across daylight
 * saving changes, and the backfill range that holds exactly the runs of the dates asked for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addDays,
  backfillRange,
  dateIn,
  datesBetween,
  isDate,
  isTimeOfDay,
  zonedInstant,
} from '../contract/schedule';

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

  it('finds the instant a wall clock shows, on ordinary days and on both daylight saving changes', () => {
    assert.equal(zonedInstant('2025-01-16', '02:00', 'UTC').toISOString(), '2025-01-16T02:00:00.000Z');
    assert.equal(
      zonedInstant('2025-01-16', '02:00', 'Europe/Paris').toISOString(),
      '2025-01-16T01:00:00.000Z',
    );
    assert.equal(
      zonedInstant('2025-07-16', '02:00', 'Europe/Paris').toISOString(),
      '2025-07-16T00:00:00.000Z',
    );
    assert.equal(
      zonedInstant('2025-01-16', '23:30', 'America/New_York').toISOString(),
      '2025-01-17T04:30:00.000Z',
    );
    // 2025-03-30 in Paris has no 02:30 (02:00 → 03:00): the instant after the jump.
    assert.equal(
      zonedInstant('2025-03-30', '02:30', 'Europe/Paris').toISOString(),
      '2025-03-30T01:30:00.000Z',
    );
    // 2025-10-26 in Paris shows 02:30 twice (03:00 → 02:00): either.
    assert.ok(
      ['2025-10-26T00:30:00.000Z', '2025-10-26T01:30:00.000Z'].includes(
        zonedInstant('2025-10-26', '02:30', 'Europe/Paris').toISOString(),
      ),
    );
    assert.equal(dateIn(new Date('2025-01-15T23:30:00Z'), 'Europe/Paris'), '2025-01-16');
    assert.equal(dateIn(new Date('2025-01-15T23:30:00Z'), 'UTC'), '2025-01-15');
  });

  it('backfills the runs of exactly the dates asked for: each reported on the next day at the schedule time', () => {
    const schedule = { time: '02:00', timeZone: 'Europe/Paris' };
    const { start, end } = backfillRange('2025-01-14', '2025-01-16', schedule);
    const runs = ['2025-01-14', '2025-01-15', '2025-01-16'].map((d) =>
      zonedInstant(addDays(d, 1), schedule.time, schedule.timeZone),
    );
    for (const run of runs) assert.ok(run > start && run < end, run.toISOString());
    // The runs of the dates before and after are not in it.
    const before = zonedInstant('2025-01-14', schedule.time, schedule.timeZone);
    const after = zonedInstant('2025-01-18', schedule.time, schedule.timeZone);
    assert.ok(before < start && after > end);
    // The date a run reports on is the day before its scheduled day, in the schedule's zone.
    assert.deepEqual(
      runs.map((run) => addDays(dateIn(run, schedule.timeZone), -1)),
      ['2025-01-14', '2025-01-15', '2025-01-16'],
    );
  });
});
