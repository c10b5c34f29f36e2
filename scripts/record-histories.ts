/**
 * `npm run record:histories [-- NAME ...]`: runs the demo's files, plus a broken CSV, an unknown job and a
 * CSV file in chunks, through the local stack, then a day's report, the schedule's run of one and a reprocess,
 * and saves each workflow's history (and its child workflows') under test/fixtures/histories/; with names,
 * only those cases. The replay test runs today's
 * workflow code against them, so a change that would break running workflows fails the build.
 * Re-record only when the workflow's behaviour changed on purpose and old histories are gone from
 * production; otherwise keep the old files and guard the change with `patched()`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { runMain } from '../common/run-main';
import { writeTransactions } from './transactions';
import { dailyReportWorkflowId } from '../contract/daily-report';
import { scheduledDailyReport } from '../workflows';
import { awaitWorkflow, uploadFile, type UploadOptions } from './pipeline-client';
import { reportDate } from './report';
import { startReprocess } from './reprocess';
import { startStack } from './stack';
import { ensureTools, REPO_ROOT } from './tools';

const SAMPLES = join(__dirname, 'samples');
export const HISTORIES_DIR = join(REPO_ROOT, 'test', 'fixtures', 'histories');
/** The workflow ID of each recorded history, by file name. */
export const HISTORY_IDS = join(HISTORIES_DIR, 'workflow-ids.json');

/** An unterminated quote: the processor's invalid-input exit, the dead-letter path. */
const BROKEN_CSV = 'id,name\n1,"never closed\n2,b\n';

const CASES: { name: string; file: string; key: string; options: UploadOptions }[] = [
  {
    name: 'csv-batch',
    file: 'transactions.csv',
    key: 'batch/transactions.csv',
    options: { processorType: 'pool' },
  },
  {
    name: 'text-ecs',
    file: 'release-notes.md',
    key: 'ecs/release-notes.md',
    options: { processorType: 'on-demand' },
  },
  { name: 'csv-inline', file: 'transactions.csv', key: 'inline/transactions.csv', options: {} },
  {
    name: 'unknown-job',
    file: 'transactions.csv',
    key: 'bad/unknown-job.csv',
    options: { job: 'resize-image' },
  },
  { name: 'invalid-csv', file: 'broken.csv', key: 'bad/broken.csv', options: {} },
  {
    name: 'csv-chunks',
    file: 'chunked.csv',
    key: 'chunks/transactions.csv',
    options: { job: 'csv-validate', metadata: { 'chunk-size': '8KiB', 'max-concurrency': '2' } },
  },
];

async function main(): Promise<void> {
  const stack = await startStack();
  const connection = await Connection.connect({ address: stack.temporalAddress });
  try {
    const client = new Client({ connection, namespace: stack.namespace });
    mkdirSync(HISTORIES_DIR, { recursive: true });
    const scratch = mkdtempSync(join(tmpdir(), 'histories-'));
    writeFileSync(join(scratch, 'broken.csv'), BROKEN_CSV);
    await writeTransactions(join(scratch, 'chunked.csv'), 30 * 1024, 3);
    const names = process.argv.slice(2);
    // Histories that depend on their workflow ID (a parent names its child workflows after it) replay under it.
    const ids = existsSync(HISTORY_IDS)
      ? (JSON.parse(readFileSync(HISTORY_IDS, 'utf8')) as Record<string, string>)
      : {};
    // The CLI writes the JSON form Temporal's tools (and Worker.runReplayHistories) read.
    const show = (workflowId: string) =>
      execFileSync(
        ensureTools().temporal,
        [
          'workflow',
          'show',
          '--workflow-id',
          workflowId,
          '--address',
          stack.temporalAddress,
          '--output',
          'json',
        ],
        { encoding: 'utf8' },
      );
    const save = (name: string, workflowId: string, status: string) => {
      const history = show(workflowId);
      writeFileSync(join(HISTORIES_DIR, `${name}.json`), history);
      ids[`${name}.json`] = workflowId;
      const events = (JSON.parse(history) as { events: unknown[] }).events.length;
      process.stdout.write(`${name}: ${status} (${events} events)\n`);
    };
    const wanted = (name: string) => names.length === 0 || names.includes(name);
    for (const c of CASES.filter((c) => wanted(c.name))) {
      const path = join(existsSync(join(SAMPLES, c.file)) ? SAMPLES : scratch, c.file);
      const ref = await uploadFile(stack.aws.s3, stack.inputBucket, c.key, path, c.options);
      const outcome = await awaitWorkflow(client, ref, 60_000);
      if (outcome.status === 'timed-out') throw new Error(`${c.name}: no result in 60 s`);
      save(c.name, outcome.workflowId, outcome.status);
      // A chunked file's child workflows (one per batch of chunks) are histories of their own.
      const chunks = outcome.status === 'completed' ? (outcome.result.chunks?.total ?? 0) : 0;
      if (chunks > 0) save(`${c.name}-batch-1`, `${outcome.workflowId}/chunks-1`, outcome.status);
    }
    // The workflows that are not a file's: a day's report (today's, of the files above), the schedule's run of
    // it, and a reprocess of the inline file above (skipped: processed already).
    const today = new Date().toISOString().slice(0, 10);
    if (wanted('daily-report')) {
      await reportDate(client, stack.taskQueue, today);
      save('daily-report', dailyReportWorkflowId(today), 'completed');
    }
    if (wanted('scheduled-daily-report')) {
      const handle = await client.workflow.start(scheduledDailyReport, {
        workflowId: 'daily-report-by-hand',
        taskQueue: stack.taskQueue,
        args: [],
      });
      await handle.result();
      save('scheduled-daily-report', handle.workflowId, 'completed');
    }
    if (wanted('reprocess')) {
      const handle = await startReprocess(client, stack.taskQueue, {
        bucket: stack.inputBucket,
        prefix: 'inline/',
      });
      await handle.result();
      save('reprocess', handle.workflowId, 'completed');
    }
    writeFileSync(HISTORY_IDS, `${JSON.stringify(ids, null, 2)}\n`);
  } finally {
    await connection.close();
    await stack.stop();
  }
}

if (require.main === module) runMain('record-histories', main);
