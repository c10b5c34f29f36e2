/**
 * `npm run record:histories`: runs the demo's files, plus a broken CSV and an unknown job, through the local
 * stack and saves each workflow's history under test/fixtures/histories/. The replay test runs today's
 * workflow code against them, so a change that would break running workflows fails the build.
 * Re-record only when the workflow's behaviour changed on purpose and old histories are gone from
 * production; otherwise keep the old files and guard the change with `patched()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { runMain } from '../common/main';
import { awaitWorkflow, uploadFile, type UploadOptions } from './pipeline-client';
import { startStack } from './stack';
import { ensureTools, REPO_ROOT } from './tools';

const SAMPLES = join(__dirname, 'samples');
export const HISTORIES_DIR = join(REPO_ROOT, 'test', 'fixtures', 'histories');

/** An unterminated quote: the processor's invalid-input exit, the dead-letter path. */
const BROKEN_CSV = 'id,name\n1,"never closed\n2,b\n';

const CASES: { name: string; file: string; key: string; options: UploadOptions }[] = [
  {
    name: 'csv-batch',
    file: 'transactions.csv',
    key: 'batch/transactions.csv',
    options: { processorType: 'pool' },
  },
  { name: 'text-ecs', file: 'release-notes.md', key: 'ecs/release-notes.md', options: {} },
  {
    name: 'unknown-job',
    file: 'transactions.csv',
    key: 'bad/unknown-job.csv',
    options: { job: 'resize-image' },
  },
  { name: 'invalid-csv', file: 'broken.csv', key: 'bad/broken.csv', options: {} },
];

async function main(): Promise<void> {
  const stack = await startStack();
  const connection = await Connection.connect({ address: stack.temporalAddress });
  try {
    const client = new Client({ connection, namespace: stack.namespace });
    mkdirSync(HISTORIES_DIR, { recursive: true });
    const scratch = mkdtempSync(join(tmpdir(), 'histories-'));
    writeFileSync(join(scratch, 'broken.csv'), BROKEN_CSV);
    for (const c of CASES) {
      const path = join(c.file === 'broken.csv' ? scratch : SAMPLES, c.file);
      const ref = await uploadFile(stack.aws.s3, stack.inputBucket, c.key, path, c.options);
      const outcome = await awaitWorkflow(client, ref, 60_000);
      if (outcome.status === 'timed-out') throw new Error(`${c.name}: no result in 60 s`);
      // The CLI writes the JSON form Temporal's tools (and Worker.runReplayHistories) read.
      const history = execFileSync(
        ensureTools().temporal,
        [
          'workflow',
          'show',
          '--workflow-id',
          outcome.workflowId,
          '--address',
          stack.temporalAddress,
          '--output',
          'json',
        ],
        { encoding: 'utf8' },
      );
      writeFileSync(join(HISTORIES_DIR, `${c.name}.json`), history);
      const events = (JSON.parse(history) as { events: unknown[] }).events.length;
      process.stdout.write(`${c.name}: ${outcome.status} (${events} events)\n`);
    }
  } finally {
    await connection.close();
    await stack.stop();
  }
}

runMain('record-histories', main);
