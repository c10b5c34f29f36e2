/**
 * `npm run report -- --date YYYY-MM-DD`: writes that day's report (`reports/daily/DATE.json` and `.csv`) now,
 * with the workflow the schedule would run for it (`daily-report:DATE`), and prints where it went.
 *
 * `npm run report -- --from DATE --to DATE`: backfills the daily report's Schedule for those dates, through the
 * schedule's own backfill, so its overlap policy holds (BUFFER_ALL: one date after the other), then waits for
 * each date's report (`--no-wait` returns at once).
 *
 * Connects like the worker (TEMPORAL_ADDRESS, TEMPORAL_PROFILE, …), or to the stack of `npm run dev`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { ExplainedError } from '../contract/failures';
import { runMain } from '../common/run-main';
import { dailyReportWorkflowId, type DailyReportResult } from '../contract/daily-report';
import { datesBetween, isDate } from '../contract/dates';
import { dailyReport } from '../workflows';
import { pipelineClient } from './pipeline-client';
import { backfillDailyReports } from './schedules';

const USAGE = 'usage: npm run report -- --date YYYY-MM-DD | --from YYYY-MM-DD --to YYYY-MM-DD [--no-wait]';
/** A backfill of more days than this is refused: it is most likely a typo in a year. */
const MAX_BACKFILL_DAYS = 3660;

/**
 * Runs the day's report with the ID the schedule uses for it: a report of that date already running is
 * waited for rather than started twice; a finished one is run again, and rewrites the same objects.
 */
export async function reportDate(
  client: Client,
  taskQueue: string,
  date: string,
): Promise<DailyReportResult> {
  return client.workflow.execute(dailyReport, {
    workflowId: dailyReportWorkflowId(date),
    taskQueue,
    args: [{ date }],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  });
}

/**
 * Waits for the report of `date` that started at `since` or later (the backfill's, not an earlier one).
 * @param timeoutMs how long to wait at most; none by default (a backfill of a year takes a while).
 */
export async function awaitReport(
  client: Client,
  date: string,
  since: Date,
  timeoutMs = Infinity,
): Promise<DailyReportResult> {
  const handle = client.workflow.getHandle<typeof dailyReport>(dailyReportWorkflowId(date));
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(1000)) {
    try {
      const { startTime, runId } = await handle.describe();
      if (startTime >= since)
        return await client.workflow.getHandle<typeof dailyReport>(handle.workflowId, runId).result();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  throw new ExplainedError(
    `no report of ${date} started within ${timeoutMs / 1000} s: see the schedule's runs (temporal schedule describe --schedule-id daily-report)`,
  );
}

function describe(date: string, { bucket, json, csv, files, unreadable }: DailyReportResult): string {
  const counts = Object.entries(files)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  return `${date}: s3://${bucket}/${json} and ${csv}: ${counts}${unreadable ? `, ${unreadable} unreadable report(s)` : ''}`;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      date: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'no-wait': { type: 'boolean' },
    },
  });
  const { date, from, to } = values;
  if (positionals.length > 0 || (date === undefined) === (from === undefined && to === undefined))
    throw new ExplainedError(USAGE);
  for (const [name, value] of Object.entries({ date, from, to }))
    if (value !== undefined && !isDate(value))
      throw new ExplainedError(
        `--${name} ${value} is not a date: write it YYYY-MM-DD, e.g. 2025-01-15. ${USAGE}`,
      );
  if (date === undefined && (from === undefined || to === undefined))
    throw new ExplainedError(`a backfill needs both --from and --to. ${USAGE}`);

  const { client, connection, config } = await pipelineClient('report');
  try {
    if (date !== undefined) {
      process.stdout.write(`${describe(date, await reportDate(client, config.TEMPORAL_TASK_QUEUE, date))}\n`);
      return;
    }
    const dates = datesBetween(from!, to!);
    if (dates.length === 0) throw new ExplainedError(`--from ${from} is after --to ${to}: swap them`);
    if (dates.length > MAX_BACKFILL_DAYS)
      throw new ExplainedError(
        `${dates.length} days from ${from} to ${to}: at most ${MAX_BACKFILL_DAYS} at once`,
      );
    const since = new Date();
    await backfillDailyReports(client, from!, to!);
    process.stdout.write(`backfilling ${dates.length} day(s), ${from} to ${to}, one after the other\n`);
    if (values['no-wait']) return;
    for (const day of dates)
      process.stdout.write(`${describe(day, await awaitReport(client, day, since))}\n`);
  } finally {
    await connection.close();
  }
}

if (require.main === module) runMain('report', main);
