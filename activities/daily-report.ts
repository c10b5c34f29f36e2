/**
 * The daily report (`reports/daily/YYYY-MM-DD.json` and `.csv`): the figures of a day's per-file reports
 * (`reports/YYYY-MM-DD/`) and of the failure reports written that day (`reports/failures/`), summed as they
 * are read, a listing page at a time, so that memory does not grow with the files but for the list of
 * durations (numbers) and the failed and unreadable files.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { heartbeat } from '@temporalio/activity';
import { addColumnStatistics, type ColumnStatistics } from '../common/column-statistics';
import { parseDecimal } from '../common/decimal';
import { mapLimit } from '../common/parallel';
import {
  checkReportDate,
  type DailyFailure,
  type DailyFileStatus,
  type DailyReport,
  type DailyReportInput,
  type DailyReportResult,
} from '../contract/daily-report';
import { dailyReportKeys, FAILURE_REPORTS_PREFIX, reportsFolderFor } from '../contract/layout';
import type { FileReport } from '../contract/reports';
import { csvField } from '../csv/fields';
import { outputBucketOf } from './output-bucket';

/** Reports read at a time: small objects, so the requests' latency is what bounds the pace. */
const READ_CONCURRENCY = 16;

const FILE_STATUSES: readonly DailyFileStatus[] = ['processed', 'processed-with-failed-chunks', 'failed'];

/** The figures of a per-file report the daily report sums. */
type Counted = Pick<FileReport, 'status' | 'job' | 'route' | 'rows' | 'rejectsByRule' | 'totals'> & {
  durationSeconds?: number;
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function malformed(field: string, value: unknown): Error {
  return new Error(`${field} is ${JSON.stringify(value) ?? 'missing'}`);
}

/**
 * The figures of a per-file report, checked before any is added, so a malformed report adds nothing: a
 * status, job and route, and when present row counts, rejects per rule, totals (decimal strings) and duration.
 */
function countedFigures(text: string): Counted {
  const r: unknown = JSON.parse(text);
  if (!isRecord(r)) throw malformed('the report', r);
  const { status, job, route, rows, rejectsByRule, totals, durationSeconds } = r;
  if (status !== 'processed' && status !== 'processed-with-failed-chunks') throw malformed('status', status);
  if (typeof job !== 'string') throw malformed('job', job);
  if (typeof route !== 'string') throw malformed('route', route);
  if (
    rows !== undefined &&
    !(isRecord(rows) && isCount(rows.in) && isCount(rows.out) && isCount(rows.rejected))
  )
    throw malformed('rows', rows);
  if (
    rejectsByRule !== undefined &&
    !(isRecord(rejectsByRule) && Object.values(rejectsByRule).every(isCount))
  )
    throw malformed('rejectsByRule', rejectsByRule);
  if (totals !== undefined) {
    if (!isRecord(totals)) throw malformed('totals', totals);
    for (const [column, byValue] of Object.entries(totals)) {
      if (!isRecord(byValue)) throw malformed(`totals.${column}`, byValue);
      for (const [value, t] of Object.entries(byValue)) {
        if (!isRecord(t) || !isCount(t.count) || typeof t.sum !== 'string')
          throw malformed(`totals.${column}.${value}`, t);
        parseDecimal(t.sum);
      }
    }
  }
  if (durationSeconds !== undefined && !(typeof durationSeconds === 'number' && durationSeconds >= 0))
    throw malformed('durationSeconds', durationSeconds);
  return r as Counted;
}

/** A failure report's figures, checked, with the day it failed (UTC). */
function failureOfReport(text: string): { failure: DailyFailure; day: string } {
  const r: unknown = JSON.parse(text);
  if (!isRecord(r)) throw malformed('the report', r);
  const { object, type, message, disposition, workflowId, failedAt } = r;
  if (!isRecord(object) || typeof object.key !== 'string') throw malformed('object', object);
  if (typeof type !== 'string') throw malformed('type', type);
  if (typeof message !== 'string') throw malformed('message', message);
  if (disposition !== 'dead-letter' && disposition !== 'redelivery')
    throw malformed('disposition', disposition);
  const time = typeof failedAt === 'string' ? new Date(failedAt) : undefined;
  if (!time || Number.isNaN(time.getTime())) throw malformed('failedAt', failedAt);
  return {
    failure: {
      key: object.key,
      ...(typeof object.versionId === 'string' ? { versionId: object.versionId } : {}),
      type,
      message,
      disposition,
      ...(typeof workflowId === 'string' ? { workflowId } : {}),
      failedAt: time.toISOString(),
    },
    day: time.toISOString().slice(0, 10),
  };
}

/**
 * The nearest-rank percentile of ascending `sorted`: the value at rank ⌈p/100 × n⌉, so p50 of 1..4 is 2 and
 * p95 of twenty values is the 19th. Null when there are none.
 */
function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

/** Code-unit order, so the report does not depend on the order its reads finished in. */
const inCodeUnitOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `record` with its keys in code-unit order. */
const sortedByKey = <T>(record: Record<string, T>): Record<string, T> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => inCodeUnitOrder(a, b)));

/** The day's running sums: one report at a time. */
class DailyTally {
  reportsRead = 0;
  readonly unreadable: { key: string; error: string }[] = [];
  readonly byStatus: Record<DailyFileStatus, number> = Object.fromEntries(
    FILE_STATUSES.map((s) => [s, 0]),
  ) as Record<DailyFileStatus, number>;
  // Without a prototype: a report's job, route or rule named `constructor` or `__proto__` counts like any other.
  readonly byJob: Record<string, number> = Object.create(null) as Record<string, number>;
  readonly byRoute: Record<string, number> = Object.create(null) as Record<string, number>;
  readonly rows = { in: 0, out: 0, rejected: 0 };
  readonly rejectsByRule: Record<string, number> = Object.create(null) as Record<string, number>;
  readonly statistics: ColumnStatistics = { columns: {}, totals: {} };
  readonly durations: number[] = [];
  readonly failures: DailyFailure[] = [];

  constructor(readonly date: string) {}

  /** Counts a per-file report, or lists it as unreadable. */
  addFileReport(key: string, text: string): void {
    let r: Counted;
    try {
      r = countedFigures(text);
    } catch (err) {
      this.unreadable.push({ key, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    this.reportsRead++;
    this.byStatus[r.status]++;
    this.byJob[r.job] = (this.byJob[r.job] ?? 0) + 1;
    this.byRoute[r.route] = (this.byRoute[r.route] ?? 0) + 1;
    if (r.rows) {
      this.rows.in += r.rows.in;
      this.rows.out += r.rows.out;
      this.rows.rejected += r.rows.rejected;
    }
    for (const [rule, n] of Object.entries(r.rejectsByRule ?? {}))
      this.rejectsByRule[rule] = (this.rejectsByRule[rule] ?? 0) + n;
    if (r.totals) addColumnStatistics(this.statistics, { totals: r.totals });
    if (r.durationSeconds !== undefined) this.durations.push(r.durationSeconds);
  }

  /** Counts a failure report written on the day; one of another day is not read into the report. */
  addFailureReport(key: string, text: string): void {
    let failed: ReturnType<typeof failureOfReport>;
    try {
      failed = failureOfReport(text);
    } catch (err) {
      this.unreadable.push({ key, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (failed.day !== this.date) return;
    this.byStatus.failed++;
    this.failures.push(failed.failure);
  }

  report(generatedAt: string): DailyReport {
    const durations = this.durations.sort((a, b) => a - b);
    return {
      date: this.date,
      generatedAt,
      reportsRead: this.reportsRead,
      unreadable: this.unreadable.sort((a, b) => inCodeUnitOrder(a.key, b.key)),
      files: {
        total: FILE_STATUSES.reduce((n, s) => n + this.byStatus[s], 0),
        byStatus: this.byStatus,
        byJob: sortedByKey(this.byJob),
        byRoute: sortedByKey(this.byRoute),
      },
      rows: this.rows,
      rejectsByRule: sortedByKey(this.rejectsByRule),
      totals: sortedByKey(this.statistics.totals),
      durationSeconds: {
        counted: durations.length,
        p50: nearestRank(durations, 50),
        p95: nearestRank(durations, 95),
      },
      failures: this.failures.sort((a, b) => inCodeUnitOrder(a.key, b.key)),
    };
  }
}

/** One line of the CSV summary: metric, dimension, value. */
type CsvRow = [string, string, string | number | null];

/** A row per entry of `record`, its key the dimension. */
const rowsOf = (metric: string, record: Record<string, string | number>) =>
  Object.entries(record).map(([dimension, value]): CsvRow => [metric, dimension, value]);

/** The report as `metric,dimension,value` rows, which a spreadsheet opens as they are. */
function dailyReportCsv(report: DailyReport): string {
  const rows: CsvRow[] = [
    ['date', '', report.date],
    ['generated_at', '', report.generatedAt],
    ['reports_read', '', report.reportsRead],
    ...report.unreadable.map(({ key, error }): CsvRow => ['unreadable', key, error]),
    ['files', 'total', report.files.total],
    ...rowsOf('files_by_status', report.files.byStatus),
    ...rowsOf('files_by_job', report.files.byJob),
    ...rowsOf('files_by_route', report.files.byRoute),
    ...rowsOf('rows', report.rows),
    ...rowsOf('rejects_by_rule', report.rejectsByRule),
    ...Object.entries(report.totals).flatMap(([column, byValue]) =>
      Object.entries(byValue).flatMap(([value, t]): CsvRow[] => [
        ['total_sum', `${column}/${value}`, t.sum],
        ['total_count', `${column}/${value}`, t.count],
      ]),
    ),
    ['duration_seconds', 'counted', report.durationSeconds.counted],
    ['duration_seconds', 'p50', report.durationSeconds.p50],
    ['duration_seconds', 'p95', report.durationSeconds.p95],
    ...report.failures.map((f): CsvRow => ['failed', f.key, `${f.type}: ${f.message}`]),
  ];
  return ['metric,dimension,value', ...rows.map((row) => row.map((v) => csvField(String(v ?? ''))).join(','))]
    .map((line) => `${line}\n`)
    .join('');
}

export function createDailyReportActivities({ s3, outputBucket }: { s3: S3Client; outputBucket: string }) {
  const bucket = outputBucketOf(s3, outputBucket);

  /**
   * Reads every object under `prefix` into `add`, READ_CONCURRENCY at a time, a listing page at a time;
   * heartbeats after each page with how far it got. A retry starts over (the sums are not checkpointed):
   * the details show where the previous attempt was.
   */
  async function readAll(prefix: string, add: (key: string, text: string) => void): Promise<void> {
    let objects = 0;
    for await (const page of bucket.pages(prefix)) {
      await mapLimit(page, READ_CONCURRENCY, async ({ key }) => {
        // Gone since the listing (a failure report its version's success removed): nothing to count.
        const found = await bucket.getText(key);
        if (found) add(key, found.text);
      });
      objects += page.length;
      heartbeat({ prefix, objects, lastKey: page.at(-1)?.key });
    }
  }

  return {
    /**
     * Builds the day's report from the per-file reports of `date` and the failure reports whose `failedAt`
     * is on `date` (UTC), and writes it as JSON and CSV under `reports/daily/`, overwriting an earlier one.
     * A report that cannot be read is listed as unreadable and left out of the figures.
     */
    async buildDailyReport({ date }: DailyReportInput): Promise<DailyReportResult> {
      checkReportDate(date);
      const tally = new DailyTally(date);
      await readAll(reportsFolderFor(date), (key, text) => tally.addFileReport(key, text));
      await readAll(FAILURE_REPORTS_PREFIX, (key, text) => tally.addFailureReport(key, text));
      const report = tally.report(new Date().toISOString());
      const keys = dailyReportKeys(date);
      await bucket.putJson(keys.json, report, 2);
      await bucket.putText(keys.csv, dailyReportCsv(report), 'text/csv; charset=utf-8');
      return {
        bucket: outputBucket,
        ...keys,
        reportsRead: report.reportsRead,
        unreadable: report.unreadable.length,
        files: report.files.byStatus,
        durationSeconds: report.durationSeconds,
      };
    },
  };
}
