/**
 * `npm run screenshots`: the README's pictures of the Temporal UI and the console, taken in headless Chromium
 * from a real run. Starts the local stack, uploads files on each route (one chunked, one that fails), waits
 * for them, then saves to docs/images/ the workflow list (with the pipeline's search attributes as columns,
 * as the README tells people to set them), a chunked file's user metadata, and the console's four pages: the
 * file list, that file's page, the upload form and the dead letters; and the Batch file's trace in Zipkin.
 * Needs Debian's `chromium` (CHROMIUM_PATH overrides /usr/bin/chromium) and Java for Zipkin.
 */
import { launchChromium } from './browser';
import { startStackConsole } from './stack-console';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Page } from 'playwright-core';
import { ExplainedError } from '../contract/failures';
import { runMain } from '../common/run-main';
import { awaitWorkflow, uploadFile, type UploadOptions } from './pipeline-client';
import { startStack, type Stack } from './stack';
import { REPO_ROOT } from './tools';
import { writeTransactions } from './transactions';

const IMAGES = join(REPO_ROOT, 'docs', 'images');
const SAMPLES = join(REPO_ROOT, 'scripts', 'samples');
const TIMEOUT_MS = 180_000;

async function uploadAll(stack: Stack, client: Client, work: string): Promise<string> {
  const large = join(work, 'transactions-2mib.csv');
  await writeTransactions(large, 2 * 1024 * 1024);
  const uploads: { file: string; key: string; options: UploadOptions }[] = [
    { file: join(SAMPLES, 'transactions.csv'), key: 'inline/transactions.csv', options: {} },
    {
      file: join(SAMPLES, 'transactions.csv'),
      key: 'batch/transactions.csv',
      options: { processorType: 'pool' },
    },
    {
      file: join(SAMPLES, 'release-notes.md'),
      key: 'ecs/release-notes.md',
      options: { processorType: 'on-demand' },
    },
    {
      file: large,
      key: 'chunks/transactions-2mib.csv',
      options: { job: 'csv-validate', metadata: { 'chunk-size': '256KiB' } },
    },
    {
      file: join(SAMPLES, 'transactions.csv'),
      key: 'dynamodb/transactions.csv',
      options: { job: 'csv-to-dynamodb' },
    },
    { file: join(SAMPLES, 'transactions.csv'), key: 'bad/transactions.xlsx', options: {} },
  ];
  const refs = [];
  for (const u of uploads)
    refs.push(await uploadFile(stack.aws.s3, stack.inputBucket, u.key, u.file, u.options));
  const outcomes = await Promise.all(refs.map((ref) => awaitWorkflow(client, ref, TIMEOUT_MS)));
  const chunked = outcomes[3]!;
  if (chunked.status !== 'completed') {
    throw new ExplainedError(`the chunked file did not complete: ${JSON.stringify(chunked)}`);
  }
  return chunked.workflowId;
}

/** The workflow list's columns, as the UI keeps them in local storage: the file's story at a glance. */
const LIST_COLUMNS = [
  'Status',
  'ObjectKey',
  'ObjectSize',
  'Job',
  'Route',
  'Backend',
  'Stage',
  'ItemsDone',
  'ItemsTotal',
];

/** Waits until the page shows `text`, then saves it. */
async function shoot(page: Page, text: string, file: string): Promise<void> {
  await page.getByText(text).first().waitFor({ timeout: 60_000 });
  // The UI fades its tables in.
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(IMAGES, file) });
  process.stdout.write(`wrote docs/images/${file}\n`);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'screenshots-'));
  const stack = await startStack({
    ui: true,
    traces: true,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const browser = await launchChromium();
  try {
    const connection = await Connection.connect({ address: stack.temporalAddress });
    const client = new Client({ connection, namespace: stack.namespace });
    const chunked = await uploadAll(stack, client, work);
    const { runId } = await client.workflow.getHandle(chunked).describe();
    const page = await browser.newPage({ viewport: { width: 1600, height: 820 } });
    const columns = { [stack.namespace]: LIST_COLUMNS.map((label, i) => ({ label, pinned: i < 2 })) };
    await page.addInitScript((value) => {
      localStorage.setItem('namespace-workflow-table-columns', value);
    }, JSON.stringify(columns));
    const workflows = `${stack.uiUrl}/namespaces/${stack.namespace}/workflows`;
    // The files only: a chunked file's child workflows are listed on its page.
    await page.goto(`${workflows}?query=${encodeURIComponent('WorkflowType="processFile"')}`);
    await shoot(page, 'csv-to-dynamodb', 'temporal-ui-list.png');
    await page.goto(`${workflows}/${encodeURIComponent(chunked)}/${runId}/history`);
    const tab = page.getByText('User Metadata', { exact: true });
    await tab.waitFor({ timeout: 60_000 });
    await tab.click();
    // The details are Markdown rendered apart from the page's own text.
    await shoot(page, 'Current Details', 'temporal-ui-file.png');

    const operatorConsole = await startStackConsole(stack, client, {
      temporalUiUrl: stack.uiUrl!,
      upload: { bucket: stack.inputBucket },
    });
    try {
      await page.goto(`${operatorConsole.url}/files`);
      await shoot(page, 'transactions-2mib.csv', 'console-files.png');
      await page.goto(`${operatorConsole.url}/file?id=${encodeURIComponent(chunked)}`);
      await shoot(page, 'Rejects by rule', 'console-file.png');
      await page.goto(`${operatorConsole.url}/upload`);
      await shoot(page, 'Processor type', 'console-upload.png');
      // The .xlsx no job reads is the dead letter.
      await page.goto(`${operatorConsole.url}/dead-letters`);
      await shoot(page, 'UnknownJob', 'console-dead-letters.png');
    } finally {
      await operatorConsole.close();
    }
    // The Batch route's file, from its notification to its processor's S3 calls (npm run dev -- --traces).
    const traces = (await (await fetch(`${stack.tracesUrl}api/v2/traces?limit=100`)).json()) as {
      traceId: string;
      name: string;
    }[][];
    const batch = traces.find((t) => t.some((span) => span.name.endsWith('batch/transactions.csv')));
    if (!batch) throw new ExplainedError('Zipkin has no trace of batch/transactions.csv');
    await page.goto(`${stack.tracesUrl}traces/${batch[0]!.traceId}`);
    await shoot(page, 'processor csv-transform', 'trace-zipkin.png');
    await connection.close();
  } finally {
    await browser.close();
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

runMain('npm run screenshots', main);
