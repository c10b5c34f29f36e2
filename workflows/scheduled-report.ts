/**
 * `scheduledDailyReport`: what the daily report's Schedule starts (contract/schedule.ts). It works out the day
 * to report on, the UTC day before the one it was scheduled in (a backfilled run carries the time it stands
 * for), and runs `dailyReport` for it as a child whose workflow ID is that date's: the schedule, a backfill and
 * `npm run report -- --date` all land on the same workflow for a date.
 */
import { executeChild, ParentClosePolicy, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { dailyReportWorkflowId, type DailyReportResult } from '../contract/daily-report';
import { reportDateFor, SCHEDULED_START_TIME } from '../contract/schedule';
import { dailyReport } from './daily-report';

/** What a scheduled run did: the date, and the report, unless that date's report was being written already. */
export interface ScheduledDailyReportResult {
  date: string;
  workflowId: string;
  report?: DailyReportResult;
  /** The date's report was already running (started by hand): it writes the report, this run did not wait. */
  alreadyRunning?: true;
}

export async function scheduledDailyReport(): Promise<ScheduledDailyReportResult> {
  const info = workflowInfo();
  // Started by hand rather than by the schedule: the day before today.
  const date = reportDateFor(info.typedSearchAttributes.get(SCHEDULED_START_TIME) ?? info.startTime);
  const workflowId = dailyReportWorkflowId(date);
  try {
    const report = await executeChild(dailyReport, {
      workflowId,
      args: [{ date }],
      // A report half written when this run is cancelled or terminated is still worth finishing.
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    return { date, workflowId, report };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      return { date, workflowId, alreadyRunning: true };
    throw err;
  }
}
