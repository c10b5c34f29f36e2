/**
 * The daily report's Temporal Schedule: its ID, its settings, and the calendar arithmetic the schedule's
 * workflow, the launcher and the `report` command agree on. Pure (no I/O, no clock), so that the workflow
 * sandbox can use it too.
 *
 * Every day at `time` in `timeZone` the schedule starts `scheduledDailyReport`, which reports on the day
 * before the one it was scheduled on, in that time zone. Its overlap policy is BUFFER_ALL: a run scheduled
 * while another runs waits for it, and none is dropped, so a backfill of a year runs its 365 days one after
 * the other.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The Schedule's ID in the namespace (`temporal schedule describe --schedule-id daily-report`). */
export const DAILY_REPORT_SCHEDULE_ID = 'daily-report';

/** When the schedule runs: a wall-clock time of day in an IANA time zone. */
export interface DailyReportSchedule {
  /** `HH:MM`, 24-hour. */
  time: string;
  /** An IANA time zone, e.g. `UTC` or `Europe/Paris`. */
  timeZone: string;
}

/** The input the schedule gives `scheduledDailyReport` on every run. */
export interface ScheduledDailyReportInput {
  /** The schedule's time zone, in which "the day before" is taken. */
  timeZone: string;
}

/** Set by Temporal on every workflow a schedule starts, backfills included: the time it was scheduled for. */
export const SCHEDULED_START_TIME = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Whether `text` is a real calendar date written `YYYY-MM-DD`. */
export function isDate(text: string): boolean {
  const match = DATE.exec(text);
  if (!match) return false;
  const [year, month, day] = match.slice(1).map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** Whether `text` is a time of day written `HH:MM` (24-hour). */
export function isTimeOfDay(text: string): boolean {
  return TIME.test(text);
}

/** `date` (`YYYY-MM-DD`) moved by `days`. */
export function addDays(date: string, days: number): string {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10);
}

/** The dates from `from` to `to`, both included. */
export function datesBetween(from: string, to: string): string[] {
  const dates: string[] = [];
  for (let date = from; date <= to; date = addDays(date, 1)) dates.push(date);
  return dates;
}

/** The wall-clock date and time at `instant` in `timeZone`, as `YYYY-MM-DD` and minutes since midnight. */
function wallClock(instant: Date, timeZone: string): { date: string; minutes: number } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(instant)
      .map((p) => [p.type, p.value]),
  );
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

/** The date (`YYYY-MM-DD`) a wall clock in `timeZone` shows at `instant`. */
export function dateIn(instant: Date, timeZone: string): string {
  return wallClock(instant, timeZone).date;
}

/**
 * The instant at which a wall clock in `timeZone` shows `date` at `time` (`HH:MM`). On a day whose clocks
 * jump forward over that time, the instant after the jump; on one where they fall back and show it twice,
 * one of the two.
 */
export function zonedInstant(date: string, time: string, timeZone: string): Date {
  const [hours, minutes] = time.split(':').map(Number) as [number, number];
  const wanted = Date.parse(`${date}T00:00:00Z`) + (hours * 60 + minutes) * 60_000;
  // The wall clock as UTC minus the instant is the zone's offset; two rounds settle it across a change.
  let instant = wanted;
  for (let round = 0; round < 2; round++) {
    const shown = wallClock(new Date(instant), timeZone);
    const shownMs = Date.parse(`${shown.date}T00:00:00Z`) + shown.minutes * 60_000;
    instant += wanted - shownMs;
  }
  return new Date(instant);
}

/**
 * The Schedule's action times that report on the dates `from` to `to`: each date is reported on the day
 * after it, at the schedule's time. A backfill of this range starts exactly those runs.
 */
export function backfillRange(
  from: string,
  to: string,
  schedule: DailyReportSchedule,
): { start: Date; end: Date } {
  const at = (date: string) => zonedInstant(addDays(date, 1), schedule.time, schedule.timeZone).getTime();
  // Two hours either side: the runs are a day apart, and on a day the clocks change Temporal may place a run
  // that falls in the changing hour otherwise than zonedInstant does.
  const margin = 2 * 3600_000;
  return { start: new Date(at(from) - margin), end: new Date(at(to) + margin) };
}
