/**
 * The daily report's Temporal Schedule (contract/schedule.ts), as the launcher, `npm run setup:temporal` and
 * `npm run report` create, update and backfill it.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ScheduleOptionsAction,
  type Client,
  type ScheduleSpec,
} from '@temporalio/client';
import { ExplainedError } from '../contract/failures';
import { backfillRange, DAILY_REPORT_SCHEDULE_ID, type DailyReportSchedule } from '../contract/schedule';
import { scheduledDailyReport } from '../workflows';

/** A run scheduled while the last one still runs waits for it: none is dropped, none overlaps. */
export const DAILY_REPORT_OVERLAP = ScheduleOverlapPolicy.BUFFER_ALL;
/** Runs missed while Temporal was unreachable are made up within this window; older days: `npm run report -- --from`. */
const CATCHUP_WINDOW = '1 day';

function specOf({ time, timeZone }: DailyReportSchedule): ScheduleSpec {
  const [hour, minute] = time.split(':').map(Number) as [number, number];
  return {
    calendars: [{ hour, minute, comment: `every day at ${time} ${timeZone}, for the UTC day before` }],
    timezone: timeZone,
  };
}

function actionOf(taskQueue: string): ScheduleOptionsAction {
  return {
    type: 'startWorkflow',
    workflowType: scheduledDailyReport,
    // Temporal appends the scheduled time to it: `daily-report-2025-01-16T02:00:00Z`.
    workflowId: DAILY_REPORT_SCHEDULE_ID,
    taskQueue,
    args: [],
  };
}

/**
 * Creates the daily report's Schedule, or brings an existing one to these settings (its state, paused or not,
 * and its past runs are kept). Returns whether it was created.
 */
export async function ensureDailyReportSchedule(
  client: Client,
  taskQueue: string,
  schedule: DailyReportSchedule,
): Promise<'created' | 'updated'> {
  const spec = specOf(schedule);
  const action = actionOf(taskQueue);
  const policies = { overlap: DAILY_REPORT_OVERLAP, catchupWindow: CATCHUP_WINDOW, pauseOnFailure: false };
  try {
    await client.schedule.create({ scheduleId: DAILY_REPORT_SCHEDULE_ID, spec, action, policies });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule
    .getHandle(DAILY_REPORT_SCHEDULE_ID)
    .update((previous) => ({ ...previous, spec, action, policies }));
  return 'updated';
}

/**
 * Backfills the Schedule for the dates `from` to `to`: one run per date, through the schedule's own backfill,
 * so that its overlap policy applies (they run one after the other).
 */
export async function backfillDailyReports(client: Client, from: string, to: string): Promise<void> {
  try {
    await client.schedule.getHandle(DAILY_REPORT_SCHEDULE_ID).backfill(backfillRange(from, to));
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    throw new ExplainedError(
      `no schedule "${DAILY_REPORT_SCHEDULE_ID}" in this namespace: create it with \`npm run setup:temporal\` (the local stack of \`npm run dev\` has it already), then backfill again`,
    );
  }
}
