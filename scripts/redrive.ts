/**
 * `npm run redrive -- WORKFLOW_ID [--no-wait]`: reruns a file's workflow that failed (or finished with
 * tolerated chunk failures): common/redrive.ts. Waits for the rerun and prints what it did.
 *
 * Connects like the worker (TEMPORAL_ADDRESS, TEMPORAL_PROFILE, …), or to the stack of `npm run dev` when
 * neither is set and that stack is running.
 */
import { parseArgs } from 'node:util';
import { redrive } from '../common/redrive';
import { runMain } from '../common/run-main';
import type { processFile } from '../workflows';
import { pipelineClient } from './pipeline-client';

const USAGE = 'usage: npm run redrive -- WORKFLOW_ID [--no-wait]';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'no-wait': { type: 'boolean' } },
  });
  const [workflowId] = positionals;
  if (!workflowId || positionals.length > 1) throw new Error(USAGE);
  const { client, connection } = await pipelineClient('redrive');
  try {
    const { runId } = await redrive(client, workflowId, 'npm run redrive');
    process.stdout.write(`redriving ${workflowId} (run ${runId})\n`);
    if (values['no-wait']) return;
    const result = await client.workflow.getHandle<typeof processFile>(workflowId, runId).result();
    const chunks = result.chunks;
    process.stdout.write(
      `${result.status}: ${result.output ? `s3://${result.output.bucket}/${result.output.key}` : ''}` +
        (chunks
          ? ` — chunks: ${chunks.done} rerun, ${chunks.reused} reused, ${chunks.failed} failed of ${chunks.total}`
          : '') +
        (result.report ? `\nreport: s3://${result.report.bucket}/${result.report.key}` : '') +
        '\n',
    );
  } finally {
    await connection.close();
  }
}

runMain('redrive', main);
