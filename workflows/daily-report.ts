/**
 * `dailyReport`: the report of one day's files (`reports/daily/YYYY-MM-DD.json` and `.csv`), in one activity
 * that reads and sums the day's reports. Started with the ID `dailyReportWorkflowId(date)`, so a day has one
 * run at a time and one report, which a later run for the same day rewrites.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { checkReportDate, type DailyReportInput, type DailyReportResult } from '../contract/daily-report';

/**
 * One GET per report of the day, 16 at a time, for up to an hour; the activity heartbeats after each listing
 * page (1,000 reports), so a crashed worker is noticed in minutes and the report built again by another.
 */
const reading = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
  },
});

export async function dailyReport({ date }: DailyReportInput): Promise<DailyReportResult> {
  checkReportDate(date);
  return await reading.buildDailyReport({ date });
}
