/**
 * `npm run demo`: starts the local stack, uploads the sample files on the three routes (and one CSV into the
 * DynamoDB table), waits for every workflow, prints a table, writes the day's report, stops the stack. Exits 0
 * only if every output is present, the table holds one item per row loaded, both queues are empty, the
 * day's report counts every file, and the operator's console lists every file as completed.
 */
import { startStackConsole } from './stack-console';
import { prettyLogLine } from './pretty-log';
import { scrape, total } from './prometheus';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { isNotFound } from '../common/aws';
import {
  awaitWorkflow,
  queueDepth,
  tableItemCount,
  uploadFile,
  type UploadOptions,
  type WorkflowOutcome,
} from './pipeline-client';
import { DAILY_REPORT_SCHEDULE_ID } from '../contract/schedule';
import type { Route } from '../contract/workflow';
import { reportDate } from './report';
import { startStack, type Stack } from './stack';
import { runMain } from '../common/run-main';

const SAMPLES = join(__dirname, 'samples');

/**
 * The samples on the three routes: `pool` goes to Batch, another processor type to ECS, and a small file
 * with none runs inline, on the worker.
 */
const UPLOADS: { file: string; key: string; options: UploadOptions }[] = [
  { file: 'transactions.csv', key: 'batch/transactions.csv', options: { processorType: 'pool' } },
  { file: 'transactions.csv', key: 'ecs/transactions.csv', options: { processorType: 'on-demand' } },
  { file: 'transactions.csv', key: 'inline/transactions.csv', options: {} },
  { file: 'operations-log.txt', key: 'batch/operations-log.txt', options: { processorType: 'pool' } },
  { file: 'release-notes.md', key: 'ecs/release-notes.md', options: { processorType: 'on-demand' } },
  { file: 'release-notes.md', key: 'inline/release-notes.md', options: {} },
  { file: 'transactions.csv', key: 'dynamodb/transactions.csv', options: { job: 'csv-to-dynamodb' } },
];

const TIMEOUT_MS = 120_000;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** One line for a SubmitJob or RunTask input. */
function summarise(route: Route, request: object): string {
  const r = request as Record<string, unknown>;
  const strategy = (r.capacityProviderStrategy as { capacityProvider?: string }[] | undefined)?.[0];
  if (route === 'inline') return 'inline on the worker: no container to start';
  return route === 'batch'
    ? `Batch SubmitJob jobQueue=${String(r.jobQueue)} jobDefinition=${String(r.jobDefinition)} jobName=${String(r.jobName)}`
    : `ECS RunTask cluster=${String(r.cluster)} taskDefinition=${String(r.taskDefinition)} capacityProvider=${strategy?.capacityProvider ?? '-'}`;
}

async function outputPresent(stack: Stack, bucket: string, key: string): Promise<boolean> {
  try {
    const head = await stack.aws.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return (head.ContentLength ?? 0) > 0;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The operator's console, started on the stack: its file list shows every file of the demo, completed. */
async function consoleListsEveryFile(client: Client, stack: Stack): Promise<boolean> {
  const operatorConsole = await startStackConsole(stack, client);
  try {
    const page = await (await fetch(`${operatorConsole.url}/files?status=Completed`)).text();
    const listed = UPLOADS.filter((u) => page.includes(`>${u.key}</a>`)).length;
    process.stdout.write(
      `console ${operatorConsole.url}/files: ${listed} of ${UPLOADS.length} file(s) listed as completed\n`,
    );
    return listed === UPLOADS.length;
  } finally {
    await operatorConsole.close();
  }
}

/** The worker's metrics endpoint: the Temporal SDK's metrics, and the pipeline's counting every demo file processed. */
async function metricsCountEveryFile(stack: Stack): Promise<boolean> {
  const samples = await scrape(stack.metricsUrl);
  const processed = total(samples, 'pipeline_files', { outcome: 'processed' });
  const sdk = total(samples, 'temporal_workflow_completed');
  process.stdout.write(
    `metrics ${stack.metricsUrl}: ${processed} of ${UPLOADS.length} file(s) counted as processed, ` +
      `${sdk} workflow(s) completed by the SDK's count\n`,
  );
  return processed === UPLOADS.length && sdk >= UPLOADS.length;
}

async function main(): Promise<number> {
  const verbose = process.argv.includes('--verbose');
  process.stdout.write('starting the local stack (Temporal dev server, moto, worker, ingress)…\n');
  const pretty = prettyLogLine(process.stderr.isTTY);
  const stack = await startStack({
    log: verbose ? (l) => process.stderr.write(`${pretty(l)}\n`) : undefined,
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void stack.stop().finally(() => process.exit(130)));
  }
  const connection = await Connection.connect({ address: stack.temporalAddress });
  try {
    const client = new Client({ connection, namespace: stack.namespace });
    const refs = await Promise.all(
      UPLOADS.map((u) =>
        uploadFile(stack.aws.s3, stack.inputBucket, u.key, join(SAMPLES, u.file), u.options),
      ),
    );
    process.stdout.write(
      `uploaded ${refs.length} files to s3://${stack.inputBucket}; waiting for their workflows…\n\n`,
    );
    const outcomes: WorkflowOutcome[] = await Promise.all(
      refs.map((ref) => awaitWorkflow(client, ref, TIMEOUT_MS)),
    );

    const rows = [['file', 'route', 'workflow ID', 'status', 'output key', 'seconds']];
    let ok = true;
    for (const [i, outcome] of outcomes.entries()) {
      const seconds = outcome.status === 'timed-out' ? '-' : outcome.seconds.toFixed(1);
      if (outcome.status !== 'completed' || outcome.result.status !== 'processed' || !outcome.result.output) {
        ok = false;
        rows.push([UPLOADS[i]!.key, '-', outcome.workflowId, outcome.status, '-', seconds]);
        if (outcome.status === 'failed') process.stderr.write(`${UPLOADS[i]!.key}: ${outcome.error}\n`);
        continue;
      }
      const { result } = outcome;
      const present = await outputPresent(stack, result.output!.bucket, result.output!.key);
      ok &&= present;
      rows.push([
        UPLOADS[i]!.key,
        `${result.route} (${result.backend})`,
        outcome.workflowId,
        present ? 'processed' : 'output missing',
        result.output!.key,
        seconds,
      ]);
    }
    process.stdout.write(`${table(rows)}\n\n`);
    process.stdout.write(
      'What AWS receives for these files with COMPUTE_MODE=aws (recorded on each workflow):\n',
    );
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.status === 'completed' && outcome.result.awsRequest && outcome.result.route) {
        process.stdout.write(
          `  ${UPLOADS[i]!.key}: ${summarise(outcome.result.route, outcome.result.awsRequest)}\n`,
        );
      }
    }
    process.stdout.write('\n');

    const loaded = UPLOADS.findIndex((u) => u.options.job === 'csv-to-dynamodb');
    const load = outcomes[loaded];
    const expected = load?.status === 'completed' ? load.result.stats?.rowsOut : undefined;
    const items = await tableItemCount(stack.aws.dynamodb, stack.table);
    process.stdout.write(
      `DynamoDB table ${stack.table}: ${items} item(s), ${expected ?? '?'} row(s) loaded by ${UPLOADS[loaded]!.key}\n`,
    );
    ok &&= expected !== undefined && items === expected;
    const [queued, dead] = await Promise.all([
      queueDepth(stack.aws.sqs, stack.queueUrl),
      queueDepth(stack.aws.sqs, stack.deadLetterQueueUrl),
    ]);
    process.stdout.write(`queue: ${queued} message(s), dead-letter queue: ${dead} message(s)\n`);
    ok &&= queued === 0 && dead === 0;

    // The day's report, as the Schedule will write it tomorrow: every file of the demo processed today (UTC).
    const processed = outcomes.flatMap((o) => (o.status === 'completed' ? [o.result.processedAt!] : []));
    const day = processed[0]?.slice(0, 10) ?? new Date().toISOString().slice(0, 10);
    const daily = await reportDate(client, stack.taskQueue, day);
    const ofDay = processed.filter((at) => at.startsWith(day)).length;
    const { info } = await client.schedule.getHandle(DAILY_REPORT_SCHEDULE_ID).describe();
    process.stdout.write(
      `daily report of ${day}: s3://${daily.bucket}/${daily.json}: ${daily.files.processed} file(s) processed ` +
        `(p50 ${daily.durationSeconds.p50} s, p95 ${daily.durationSeconds.p95} s); ` +
        `schedule ${DAILY_REPORT_SCHEDULE_ID} next runs ${info.nextActionTimes[0]?.toISOString() ?? 'never'}\n`,
    );
    ok &&= daily.files.processed === ofDay && ofDay > 0;
    ok &&= await consoleListsEveryFile(client, stack);
    ok &&= await metricsCountEveryFile(stack);
    process.stdout.write(
      ok
        ? 'demo passed: every file processed and in the daily report, every row in the table, both queues empty\n'
        : 'demo FAILED\n',
    );
    return ok ? 0 : 1;
  } finally {
    await connection.close();
    await stack.stop();
  }
}

runMain('demo', main);
