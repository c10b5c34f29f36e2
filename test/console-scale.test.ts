/**
 * The console's file list at the scale: 10,000 `processFile` workflows on a Temporal dev server, started
 * with the ID and search attributes a real file has once inspected (bucket, key, size, processor type, route,
 * job, stage), and no worker, so they stay Running (100 of them are terminated, for the status filter). The app
 * is driven in-process with `app.request`, its HTML read as an operator's browser would: the total above the
 * table, the rows, the "Next page" link.
 *
 * Files vary in a known pattern (3 key prefixes by `i % 3`, 2 jobs by `i % 2`, 3 routes by `⌊i / 5⌋ % 3`), so
 * every filter's count is known from what was started. Following the "Next page" links is walked in full for
 * one prefix (3,334 files, 67 pages): all 10,000 would be 200 pages for nothing more proven, since the token is
 * the same keyset cursor on every page; the other filters are checked by their totals and their first page.
 * The last 50 files are started one after another, so the first page's order (newest first) is known exactly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Client } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Hono } from 'hono';
import { workflowIdFor } from '../common/ids';
import { mapLimit } from '../common/parallel';
import { createConsoleApp } from '../console/app';
import { addDays } from '../contract/dates';
import type { JobName } from '../contract/jobs';
import type { ObjectRef } from '../contract/objects';
import { fileStartOptions, PROCESS_FILE_WORKFLOW, SA, type Route } from '../contract/workflow';
import { eventually } from './support/eventually';
import { createTestEnvironment } from './support/temporal';

const FILES = 10_000;
/**
 * Starts in flight at once. The dev server (SQLite, 2 cores) takes about 225 starts a second whether 16 or 96 are
 * in flight: the 10,000 take some 45 s.
 */
const IN_FLIGHT = 32;
/** The newest files, started one at a time: the first page, in this order reversed. */
const SEQUENTIAL = 50;
const PAGE_SIZE = 50;
const BUCKET = 'pipeline-input';
const PREFIXES = ['scale/alpha/', 'scale/beta/', 'scale/gamma/'] as const;
const JOBS: readonly { job: JobName; extension: string }[] = [
  { job: 'csv-transform', extension: '.csv' },
  { job: 'text-to-pdf', extension: '.txt' },
];
const ROUTES: readonly Route[] = ['batch', 'ecs', 'inline'];

interface StartedFile {
  ref: ObjectRef;
  route: Route;
  job: JobName;
  terminated: boolean;
}

function fileAt(i: number): StartedFile {
  const { job, extension } = JOBS[i % JOBS.length]!;
  const ref: ObjectRef = {
    bucket: BUCKET,
    key: `${PREFIXES[i % PREFIXES.length]}${String(i).padStart(5, '0')}${extension}`,
    etag: `etag${i}`,
    size: 1000 + i,
  };
  return { ref, route: ROUTES[Math.floor(i / 5) % ROUTES.length]!, job, terminated: i % 100 === 7 };
}

const files = Array.from({ length: FILES }, (_, i) => fileAt(i));

/** Starts the file's workflow as the ingress does, with what its inspection would have added. */
async function start(client: Client, f: StartedFile): Promise<void> {
  const options = fileStartOptions(f.ref, 'the console scale test');
  const inspected: SearchAttributePair[] = [
    { key: SA.objectSize, value: f.ref.size! },
    { key: SA.processorType, value: f.route === 'batch' ? 'pool' : 'default' },
    { key: SA.route, value: f.route },
    { key: SA.job, value: f.job },
    { key: SA.stage, value: 'processing' },
  ];
  await client.workflow.start(PROCESS_FILE_WORKFLOW, {
    workflowId: workflowIdFor(f.ref),
    taskQueue: 'console-scale',
    args: [{ object: f.ref }],
    ...options,
    typedSearchAttributes: [
      ...options.typedSearchAttributes.filter((p) => p.key.name !== SA.stage.name),
      ...inspected,
    ],
  });
}

/** What an operator reads on a list page: the total, the rows' cells (the key first), the next page's URL. */
interface ListPage {
  status: number;
  total?: number;
  rows: { key: string; cells: string[] }[];
  next?: string;
  refresh?: string;
}

const unescape = (s: string) => s.replaceAll('&amp;', '&').replaceAll('&quot;', '"');
const text = (html: string) => unescape(html.replace(/<[^>]*>/g, '').trim());

async function get(app: Hono, url: string): Promise<ListPage> {
  const res = await app.request(url);
  const html = await res.text();
  const tbody = /<tbody[^>]*>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '';
  const rows = [...tbody.matchAll(/<tr>([\s\S]*?)<\/tr>/g)]
    .map((m) => [...m[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((td) => text(td[1]!)))
    .filter((cells) => cells.length > 1)
    .map((cells) => ({ key: cells[0]!, cells }));
  const total = /<p class="total">([\d,]+) files?<\/p>/.exec(html)?.[1];
  const next = /<a href="([^"]*)">Next page<\/a>/.exec(html)?.[1];
  const refresh = /<tbody id="file-rows" hx-get="([^"]*)"/.exec(html)?.[1];
  return {
    status: res.status,
    rows,
    ...(total ? { total: Number(total.replaceAll(',', '')) } : {}),
    ...(next ? { next: unescape(next) } : {}),
    ...(refresh ? { refresh: unescape(refresh) } : {}),
  };
}

const utcDay = () => new Date().toISOString().slice(0, 10);

describe('the console file list at 10,000 files', () => {
  let env: TestWorkflowEnvironment;
  let app: Hono;
  /** The UTC days the files were started on: one, unless the starts crossed midnight. */
  let days: string[];

  before(async () => {
    env = await createTestEnvironment();
    const { client } = env;
    const firstDay = utcDay();
    const began = Date.now();
    await mapLimit(files.slice(0, FILES - SEQUENTIAL), IN_FLIGHT, (f) => start(client, f));
    for (const f of files.slice(FILES - SEQUENTIAL)) await start(client, f);
    const startSeconds = (Date.now() - began) / 1000;
    await mapLimit(
      files.filter((f) => f.terminated),
      IN_FLIGHT,
      (f) =>
        client.workflow.getHandle(workflowIdFor(f.ref)).terminate('the status filter needs closed files'),
    );
    days = [...new Set([firstDay, utcDay()])];
    const running = files.filter((f) => !f.terminated).length;
    await eventually(
      'visibility to count every file',
      async () => {
        const [all, live] = await Promise.all([
          client.workflow.count(`WorkflowType = "${PROCESS_FILE_WORKFLOW}"`),
          client.workflow.count(`WorkflowType = "${PROCESS_FILE_WORKFLOW}" AND ExecutionStatus = "Running"`),
        ]);
        return all.count === FILES && live.count === running ? true : undefined;
      },
      60_000,
    );
    process.stdout.write(
      `${FILES} workflows started in ${startSeconds.toFixed(1)} s, visible after ${((Date.now() - began) / 1000).toFixed(1)} s\n`,
    );
    // The list pages touch only Temporal: clients of an address nothing listens on show any other call.
    const aws = { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1 };
    const credentials = { accessKeyId: 'unused', secretAccessKey: 'unused' };
    app = createConsoleApp({
      client,
      s3: new S3Client({ ...aws, credentials, forcePathStyle: true }),
      sqs: new SQSClient({ ...aws, credentials }),
      queueUrl: 'http://127.0.0.1:9/000000000000/unused',
      deadLetterQueueUrl: 'http://127.0.0.1:9/000000000000/unused-dlq',
    });
  });
  after(async () => {
    await env?.teardown();
  });

  it('shows the total and the newest 50 files first, newest first', async () => {
    const page = await get(app, '/files');
    assert.equal(page.status, 200);
    assert.equal(page.total, FILES);
    const newest = files
      .slice(FILES - PAGE_SIZE)
      .reverse()
      .map((f) => f.ref.key);
    assert.deepEqual(
      page.rows.map((r) => r.key),
      newest,
    );
    assert.ok(page.next, 'a next page');
    // The rows the page refreshes itself with are the same page's.
    const refreshed = await get(app, page.refresh!);
    assert.deepEqual(
      refreshed.rows.map((r) => r.key),
      newest,
    );
  });

  it("follows the Next page links through one prefix's files: each exactly once, then the links end", async () => {
    const prefix = PREFIXES[1];
    const expected = files.filter((f) => f.ref.key.startsWith(prefix)).map((f) => f.ref.key);
    const seen = new Set<string>();
    let pages = 0;
    for (let url: string | undefined = `/files?prefix=${prefix}`; url;) {
      const page = await get(app, url);
      pages++;
      assert.equal(page.status, 200);
      assert.equal(page.total, expected.length);
      assert.ok(
        page.rows.length > 0 && page.rows.length <= PAGE_SIZE,
        `page ${pages}: ${page.rows.length} rows`,
      );
      for (const { key } of page.rows) {
        assert.ok(key.startsWith(prefix), `${key} is not under ${prefix}`);
        assert.ok(!seen.has(key), `${key} listed twice (page ${pages})`);
        seen.add(key);
      }
      url = page.next;
      assert.ok(
        pages <= Math.ceil(expected.length / PAGE_SIZE),
        `more pages than ${expected.length} files fill`,
      );
    }
    assert.deepEqual([...seen].sort(), expected.sort());
  });

  it('selects exactly the files of each filter, alone and combined', async () => {
    const count = (keep: (f: StartedFile) => boolean) => files.filter(keep).length;
    const cases: [string, number, number?][] = [
      ...PREFIXES.map((p): [string, number] => [`prefix=${p}`, count((f) => f.ref.key.startsWith(p))]),
      ...ROUTES.map((r): [string, number, number] => [`route=${r}`, count((f) => f.route === r), 2]),
      ...JOBS.map(({ job }): [string, number, number] => [`job=${job}`, count((f) => f.job === job), 3]),
      ['status=Running', count((f) => !f.terminated), 6],
      ['status=Terminated', count((f) => f.terminated), 6],
      ['status=Completed', 0],
      [
        `prefix=${PREFIXES[2]}&route=ecs&job=text-to-pdf`,
        count((f) => f.ref.key.startsWith(PREFIXES[2]) && f.route === 'ecs' && f.job === 'text-to-pdf'),
      ],
      [`date=${addDays(days[0]!, -1)}`, 0],
    ];
    for (const [query, expected, column] of cases) {
      const page = await get(app, `/files?${query}`);
      assert.equal(page.status, 200, query);
      assert.equal(page.total, expected, query);
      assert.equal(page.rows.length, Math.min(expected, PAGE_SIZE), query);
      if (column !== undefined) {
        const value = query.split('=')[1];
        for (const row of page.rows) assert.equal(row.cells[column], value, `${query}: ${row.key}`);
      }
    }
    const status = await get(app, '/files?status=Terminated');
    const terminated = new Set(files.filter((f) => f.terminated).map((f) => f.ref.key));
    for (const row of status.rows) assert.ok(terminated.has(row.key), `${row.key} is not terminated`);
    let today = 0;
    for (const day of days) today += (await get(app, `/files?date=${day}`)).total!;
    assert.equal(today, FILES);
  });

  it('refuses a filter value it does not know with 400, and names it', async () => {
    for (const query of ['status=Sleeping', 'route=lambda', 'job=zip', 'date=yesterday']) {
      const res = await app.request(`/files?${query}`);
      assert.equal(res.status, 400, query);
      assert.match(await res.text(), new RegExp(`Not filtered: ${query.split('=')[0]} is`), query);
    }
  });
});
