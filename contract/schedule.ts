/**
 * The daily report's Temporal Schedule: its ID, its settings, and the calendar arithmetic the schedule's
 * workflow, the launcher and the `report` command agree on. Pure (no I/O, no clock), so that the workflow
 * sandbox can use it too.
 *
 * Days are UTC days, as the folders of the per-file reports are (`reports/YYYY-MM-DD/`, the UTC date the file
 * was processed). Every day at `time` in `timeZone` the schedule starts `scheduledDailyReport`, which reports
 * on the UTC day before the one it was scheduled in: always a day that is over. Its overlap policy is
 * BUFFER_ALL: a run due while another runs waits for it, and none is dropped, so a backfill of a year runs its
 * 365 days one after the other.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { addDays } from './dates';

/** The Schedule's ID in the namespace (`temporal schedule describe --schedule-id daily-report`). */
export const DAILY_REPORT_SCHEDULE_ID = 'daily-report';

/** When the schedule runs: a wall-clock time of day in an IANA time zone. */
export interface DailyReportSchedule {
  /** `HH:MM`, 24-hour. */
  time: string;
  /** An IANA time zone, e.g. `UTC` or `Europe/Paris`. */
  timeZone: string;
}

/** Set by Temporal on every workflow a schedule starts, backfills included: the time it was scheduled for. */
export const SCHEDULED_START_TIME = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Whether `text` is a time of day written `HH:MM` (24-hour). */
/** Whether this runtime knows `name` as an IANA time zone. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export function isTimeOfDay(text: string): boolean {
  return TIME.test(text);
}

/** The day a run scheduled for `scheduledFor` reports on: the UTC day before. */
export function reportDateFor(scheduledFor: Date): string {
  return addDays(scheduledFor.toISOString().slice(0, 10), -1);
}

/**
 * The time range of the Schedule's runs that report on the days `from` to `to`: the UTC days after them,
 * whole, since a run of the schedule falls somewhere in each (when, depends on its time and zone). A backfill
 * of this range starts exactly those runs.
 */
export function backfillRange(from: string, to: string): { start: Date; end: Date } {
  return {
    start: new Date(`${addDays(from, 1)}T00:00:00.000Z`),
    end: new Date(`${addDays(to, 1)}T23:59:59.999Z`),
  };
}
