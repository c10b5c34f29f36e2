/**
 * The daily report on the whole local stack (its worker recording AWS calls for the permission proof): known
 * per-file and failure reports in the output bucket, a malformed one and some of other days; `dailyReport`
 * sums them into `reports/daily/DATE.json` and `.csv`, every figure checked, and a second run for the same
 * date rewrites the one report. A file processed through the pipeline reports its processing time. The stack's
 * Schedule is as configured, and its backfill of three dates gives three reports, run one after the other.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import {
  dailyReportWorkflowId,
  type DailyReport,
  type DailyReportInput,
  type DailyReportResult,
} from '../contract/daily-report';
import { DAILY_REPORTS_PREFIX, dailyReportKeys, failureReportKey, reportKeyFor } from '../contract/layout';
import type { FileReport } from '../contract/reports';
import { mapLimit } from '../common/parallel';
import { DAILY_REPORT_SCHEDULE_ID } from '../contract/schedule';
import { awaitWorkflow, uploadFile } from '../scripts/pipeline-client';
import { awaitReport } from '../scripts/report';
import { backfillDailyReports, DAILY_REPORT_OVERLAP } from '../scripts/schedules';
import type { dailyReport } from '../workflows/daily-report';
import { startEndToEnd, type EndToEnd } from './support/end-to-end';

const DATE = '2026-03-01';
const WAIT_MS = 60_000;
/** A per-file report cut short, and what JSON.parse says of it (in this Node's words). */
const NOT_JSON = '{"status": "processed", ';
const NOT_JSON_ERROR = (() => {
  try {
    JSON.parse(NOT_JSON);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('NOT_JSON parsed');
})();

let world: EndToEnd;
before(async () => {
  world = await startEndToEnd('daily-report-test');
});
after(() => world?.stop());

async function put(key: string, body: string): Promise<void> {
  await world.stack.aws.s3.send(
    new PutObjectCommand({ Bucket: world.stack.outputBucket, Key: key, Body: body }),
  );
}

async function text(key: string): Promise<string> {
  const res = await world.stack.aws.s3.send(
    new GetObjectCommand({ Bucket: world.stack.outputBucket, Key: key }),
  );
  return res.Body!.transformToString();
}

/** A per-file report of DATE with the figures the daily report reads; the rest as the workflow writes it. */
function fileReport(key: string, figures: Partial<FileReport>, processedAt = `${DATE}T10:00:00.000Z`) {
  return put(
    reportKeyFor(key, processedAt),
    JSON.stringify({
      workflowId: `wf-${key}`,
      object: { bucket: 'in', key, etag: 'e' },
      processedAt,
      ...figures,
    }),
  );
}

function failureReport(key: string, failedAt: string, extra: Record<string, unknown> = {}) {
  return put(
    failureReportKey(key),
    JSON.stringify({
      object: { bucket: 'in', key, etag: 'e', versionId: `v-${key}` },
      type: 'InvalidInput',
      message: `${key} has no header`,
      disposition: 'dead-letter',
      workflowId: `wf-${key}`,
      runId: 'r',
      failedAt,
      ...extra,
    }),
  );
}

function runDailyReport(input: DailyReportInput): Promise<DailyReportResult> {
  return world.client.workflow.execute<typeof dailyReport>('dailyReport', {
    taskQueue: world.stack.taskQueue,
    workflowId: dailyReportWorkflowId(input.date),
    args: [input],
  });
}

describe('the daily report', () => {
  it('sums the figures of a day’s reports into reports/daily/DATE.json and .csv, once per date', async () => {
    const csvValidate = { job: 'csv-validate', status: 'processed' } as const;
    await Promise.all([
      fileReport('in/a.csv', {
        ...csvValidate,
        route: 'inline',
        rows: { in: 10, out: 8, rejected: 2 },
        rejectsByRule: { required: 1, 'amount:number': 1 },
        totals: { amount: { USD: { count: 1, sum: '5' }, EUR: { count: 3, sum: '0.10' } } },
        durationSeconds: 4,
      }),
      fileReport('in/b.csv', {
        ...csvValidate,
        route: 'ecs',
        rows: { in: 5, out: 5, rejected: 0 },
        rejectsByRule: { required: 2 },
        totals: { amount: { EUR: { count: 2, sum: '0.20' } } },
        durationSeconds: 1,
      }),
      fileReport('in/big.csv', {
        status: 'processed-with-failed-chunks',
        job: 'csv-transform',
        route: 'batch',
        rows: { in: 100, out: 100, rejected: 0 },
        durationSeconds: 30,
      }),
      fileReport('in/doc.txt', {
        status: 'processed',
        job: 'text-to-pdf',
        route: 'inline',
        durationSeconds: 2,
      }),
      // Written before reports had a duration: counted, but not in the percentiles.
      fileReport('in/old.txt', { status: 'processed', job: 'text-to-pdf', route: 'inline' }),
      // Unreadable: not JSON, and a total that is no decimal (its rows must not be counted either).
      put(reportKeyFor('in/broken.csv', DATE), NOT_JSON),
      fileReport('in/bad-sum.csv', {
        ...csvValidate,
        route: 'inline',
        rows: { in: 7, out: 7, rejected: 0 },
        totals: { amount: { EUR: { count: 1, sum: '1,5' } } },
      }),
      // Another day's report, and failures of the day (its first and last millisecond) and of the day before.
      fileReport(
        'in/a.csv',
        { ...csvValidate, route: 'inline', rows: { in: 1000, out: 1000, rejected: 0 } },
        '2026-02-28T23:59:59.999Z',
      ),
      failureReport('in/f1.csv', `${DATE}T23:59:59.999Z`),
      failureReport('in/f2.txt', `${DATE}T00:00:00.000Z`, {
        type: 'ProcessorFailed',
        message: 'exit code 1',
        disposition: 'redelivery',
      }),
      failureReport('in/f3.csv', '2026-02-28T23:59:59.999Z'),
    ]);

    const keys = dailyReportKeys(DATE);
    const expected: Omit<DailyReport, 'generatedAt'> = {
      date: DATE,
      reportsRead: 5,
      unreadable: [
        { key: reportKeyFor('in/bad-sum.csv', DATE), error: 'not a decimal number: "1,5"' },
        { key: reportKeyFor('in/broken.csv', DATE), error: NOT_JSON_ERROR },
      ],
      files: {
        total: 7,
        byStatus: { processed: 4, 'processed-with-failed-chunks': 1, failed: 2 },
        byJob: { 'csv-transform': 1, 'csv-validate': 2, 'text-to-pdf': 2 },
        byRoute: { batch: 1, ecs: 1, inline: 3 },
      },
      rows: { in: 115, out: 113, rejected: 2 },
      rejectsByRule: { 'amount:number': 1, required: 3 },
      totals: { amount: { EUR: { count: 5, sum: '0.30' }, USD: { count: 1, sum: '5' } } },
      // Nearest rank of 1, 2, 4, 30: the 2nd (interpolation would say 3) and the 4th.
      durationSeconds: { counted: 4, p50: 2, p95: 30 },
      failures: [
        {
          key: 'in/f1.csv',
          versionId: 'v-in/f1.csv',
          type: 'InvalidInput',
          message: 'in/f1.csv has no header',
          disposition: 'dead-letter',
          workflowId: 'wf-in/f1.csv',
          failedAt: `${DATE}T23:59:59.999Z`,
        },
        {
          key: 'in/f2.txt',
          versionId: 'v-in/f2.txt',
          type: 'ProcessorFailed',
          message: 'exit code 1',
          disposition: 'redelivery',
          workflowId: 'wf-in/f2.txt',
          failedAt: `${DATE}T00:00:00.000Z`,
        },
      ],
    };
    const expectedCsv = (generatedAt: string) =>
      [
        'metric,dimension,value',
        `date,,${DATE}`,
        `generated_at,,${generatedAt}`,
        'reports_read,,5',
        `unreadable,reports/${DATE}/in/bad-sum.csv.json,"not a decimal number: ""1,5"""`,
        `unreadable,reports/${DATE}/in/broken.csv.json,${NOT_JSON_ERROR}`,
        'files,total,7',
        'files_by_status,processed,4',
        'files_by_status,processed-with-failed-chunks,1',
        'files_by_status,failed,2',
        'files_by_job,csv-transform,1',
        'files_by_job,csv-validate,2',
        'files_by_job,text-to-pdf,2',
        'files_by_route,batch,1',
        'files_by_route,ecs,1',
        'files_by_route,inline,3',
        'rows,in,115',
        'rows,out,113',
        'rows,rejected,2',
        'rejects_by_rule,amount:number,1',
        'rejects_by_rule,required,3',
        'total_sum,amount/EUR,0.30',
        'total_count,amount/EUR,5',
        'total_sum,amount/USD,5',
        'total_count,amount/USD,1',
        'duration_seconds,counted,4',
        'duration_seconds,p50,2',
        'duration_seconds,p95,30',
        'failed,in/f1.csv,InvalidInput: in/f1.csv has no header',
        'failed,in/f2.txt,ProcessorFailed: exit code 1',
        '',
      ].join('\n');

    const first = await runDailyReport({ date: DATE });
    assert.deepEqual(first, {
      bucket: world.stack.outputBucket,
      ...keys,
      reportsRead: 5,
      unreadable: 2,
      files: expected.files.byStatus,
      durationSeconds: expected.durationSeconds,
    });
    const report = JSON.parse(await text(keys.json)) as DailyReport;
    const { generatedAt, ...figures } = report;
    assert.deepEqual(figures, expected);
    assert.equal(await text(keys.csv), expectedCsv(generatedAt));

    // The same date again: the same workflow ID and keys, the report rewritten, no second one.
    await put(
      reportKeyFor('in/late.txt', DATE),
      JSON.stringify({ status: 'processed', job: 'text-to-pdf', route: 'ecs' }),
    );
    assert.deepEqual(await runDailyReport({ date: DATE }), {
      ...first,
      reportsRead: 6,
      files: { ...first.files, processed: 5 },
    });
    const again = JSON.parse(await text(keys.json)) as DailyReport;
    assert.ok(again.generatedAt > generatedAt, `${again.generatedAt} is after ${generatedAt}`);
    assert.equal(again.files.byRoute.ecs, 2);
    const listed = await world.stack.aws.s3.send(
      new ListObjectsV2Command({ Bucket: world.stack.outputBucket, Prefix: DAILY_REPORTS_PREFIX }),
    );
    assert.deepEqual(
      (listed.Contents ?? []).map((o) => o.Key),
      [keys.csv, keys.json],
    );
  });

  it('reads every listing page of a day with more reports than one page holds', async () => {
    // ListObjectsV2 returns 1,000 keys a page.
    const date = '2026-03-02';
    const files = 1001;
    await mapLimit(
      Array.from({ length: files }, (_, i) => i),
      32,
      (i) =>
        fileReport(
          `many/${i}.csv`,
          {
            status: 'processed',
            job: 'csv-validate',
            route: 'inline',
            totals: { amount: { EUR: { count: 1, sum: '0.01' } } },
            durationSeconds: i + 1,
          },
          `${date}T12:00:00.000Z`,
        ),
    );
    const result = await runDailyReport({ date });
    assert.equal(result.reportsRead, files);
    // Nearest rank of 1..1001: the 501st and the 951st.
    assert.deepEqual(result.durationSeconds, { counted: files, p50: 501, p95: 951 });
    const report = JSON.parse(await text(result.json)) as DailyReport;
    assert.deepEqual(report.totals, { amount: { EUR: { count: files, sum: '10.01' } } });
  });

  it('counts a job, route or rule named like an Object property as any other', async () => {
    const date = '2026-03-03';
    await fileReport(
      'odd/names.csv',
      {
        status: 'processed',
        job: 'constructor' as FileReport['job'],
        route: '__proto__' as FileReport['route'],
        rejectsByRule: JSON.parse('{"constructor": 2, "__proto__": 1, "toString": 3}') as Record<
          string,
          number
        >,
      },
      `${date}T12:00:00.000Z`,
    );
    const result = await runDailyReport({ date });
    const report = JSON.parse(await text(result.json)) as DailyReport;
    assert.deepEqual(Object.entries(report.files.byJob), [['constructor', 1]]);
    assert.deepEqual(Object.entries(report.files.byRoute), [['__proto__', 1]]);
    assert.deepEqual(Object.entries(report.rejectsByRule), [
      ['__proto__', 1],
      ['constructor', 2],
      ['toString', 3],
    ]);
  });

  it('refuses a date that is no day, naming the format', async () => {
    await assert.rejects(runDailyReport({ date: '2026-02-30' }), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(
        err.cause?.message ?? '',
        /"2026-02-30" is not a date; give the day to report as YYYY-MM-DD/,
      );
      return true;
    });
  });

  it('reads the processing time a file processed through the pipeline reports', async () => {
    const path = join(world.dir, 'timed.csv');
    writeFileSync(path, 'id,v\n1,a\n');
    const ref = await uploadFile(world.stack.aws.s3, world.stack.inputBucket, 'daily/timed.csv', path);
    const outcome = await awaitWorkflow(world.client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    const processedAt = outcome.result.processedAt!;
    const { durationSeconds } = JSON.parse(await text(reportKeyFor(ref.key, processedAt))) as FileReport;
    assert.ok(
      durationSeconds > 0 && durationSeconds <= outcome.seconds,
      `0 < ${durationSeconds} ≤ ${outcome.seconds}`,
    );
    const day = await runDailyReport({ date: processedAt.slice(0, 10) });
    assert.deepEqual(day.durationSeconds, { counted: 1, p50: durationSeconds, p95: durationSeconds });
  });
});

describe('the daily report schedule', () => {
  it('is created with the stack: every day at 02:00 UTC, BUFFER_ALL, running scheduledDailyReport', async () => {
    const { spec, policies, action } = await world.client.schedule
      .getHandle(DAILY_REPORT_SCHEDULE_ID)
      .describe();
    assert.deepEqual(
      spec.calendars?.map((c) => [c.hour[0]?.start, c.minute[0]?.start]),
      [[2, 0]],
    );
    assert.equal(spec.timezone ?? 'UTC', 'UTC');
    assert.equal(policies.overlap, DAILY_REPORT_OVERLAP);
    assert.equal(policies.overlap, 'BUFFER_ALL');
    assert.equal(action.type === 'startWorkflow' && action.workflowType, 'scheduledDailyReport');
  });

  it('backfills three dates into three reports, one after the other', async () => {
    const dates = ['2026-02-10', '2026-02-11', '2026-02-12'];
    // One file on each date, two on the middle one, so that each report is seen to be its own date's.
    for (const [i, date] of dates.entries())
      for (let n = 0; n <= (i === 1 ? 1 : 0); n++)
        await fileReport(
          `backfill/${date}-${n}.csv`,
          { status: 'processed', job: 'csv-transform', route: 'inline', durationSeconds: 1 },
          `${date}T08:00:00.000Z`,
        );
    const since = new Date();
    await backfillDailyReports(world.client, dates[0]!, dates[2]!);
    const results = await Promise.all(dates.map((date) => awaitReport(world.client, date, since, WAIT_MS)));
    assert.deepEqual(
      results.map((r) => r.files.processed),
      [1, 2, 1],
    );
    for (const date of dates) {
      const report = JSON.parse(await text(dailyReportKeys(date).json)) as DailyReport;
      assert.equal(report.date, date);
    }
    // BUFFER_ALL: each date's run started once the one before had closed.
    const runs = await Promise.all(
      dates.map((date) => world.client.workflow.getHandle(dailyReportWorkflowId(date)).describe()),
    );
    for (let i = 1; i < runs.length; i++)
      assert.ok(
        runs[i]!.startTime >= runs[i - 1]!.closeTime!,
        `${dates[i]} started before ${dates[i - 1]} ended`,
      );
  });
});
