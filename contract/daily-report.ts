/**
 * The contract of the `dailyReport` workflow: one report of a day's files, built from the per-file reports
 * (`reports/YYYY-MM-DD/KEY.json`) and the failure reports of that day, written to `reports/daily/`. Shared by
 * the workflow, the activity, whatever schedules it and the tests.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ValueTotal } from './reports';
import { isDate } from './dates';
import { FailureType } from './failures';

export interface DailyReportInput {
  /** The day (UTC) to report, `YYYY-MM-DD`. */
  date: string;
}

/** A file's status in the day's report: a per-file report's, or `failed` for a failure report. */
export type DailyFileStatus = 'processed' | 'processed-with-failed-chunks' | 'failed';

/** A failed file of the day, from its failure report: which version, why, and what happened to its message. */
export interface DailyFailure {
  key: string;
  versionId?: string;
  type: string;
  message: string;
  disposition: 'dead-letter' | 'redelivery';
  workflowId?: string;
  failedAt: string;
}

/** The day's report, `reports/daily/YYYY-MM-DD.json`. */
export interface DailyReport {
  date: string;
  generatedAt: string;
  /** Per-file reports read and counted (not the unreadable ones); the failure reports are `byStatus.failed`. */
  reportsRead: number;
  /** Reports that could not be read as one (not JSON, or missing or malformed figures): left out of every figure. */
  unreadable: { key: string; error: string }[];
  /** Failed files have no job or route in their failure report: `byJob` and `byRoute` count processed files only. */
  files: {
    total: number;
    byStatus: Record<DailyFileStatus, number>;
    byJob: Record<string, number>;
    byRoute: Record<string, number>;
  };
  /** CSV jobs: data rows read, written and rejected, summed over the processed files. */
  rows: { in: number; out: number; rejected: number };
  /** csv-validate: failed checks per rule, summed. */
  rejectsByRule: Record<string, number>;
  /** Per numeric column with `totalsBy`, per value of that column (a currency): exact decimal sums, and counts. */
  totals: Record<string, Record<string, ValueTotal>>;
  /**
   * Processing time of the processed files that report it (`durationSeconds`), by the nearest-rank method: the
   * smallest duration at least p% of them do not exceed, so always one of the files' own figures. Null when none.
   */
  durationSeconds: { counted: number; p50: number | null; p95: number | null };
  failures: DailyFailure[];
}

/** What the workflow returns: where the report is, and its headline figures. */
export interface DailyReportResult {
  bucket: string;
  json: string;
  csv: string;
  reportsRead: number;
  unreadable: number;
  files: DailyReport['files']['byStatus'];
  durationSeconds: DailyReport['durationSeconds'];
}

/** One workflow ID per day: a second run for the same date rewrites the same report instead of adding one. */
export const dailyReportWorkflowId = (date: string) => `daily-report:${date}`;

/**
 * Checks that `date` is a real day written `YYYY-MM-DD`, or throws a non-retryable InvalidInput failure: a
 * wrong date would only ever report nothing.
 */
export function checkReportDate(date: string): void {
  if (!isDate(date)) {
    throw ApplicationFailure.create({
      message: `daily report: "${date}" is not a date; give the day to report as YYYY-MM-DD (UTC), e.g. 2026-03-01`,
      type: FailureType.invalidInput,
      nonRetryable: true,
    });
  }
}
