/**
 * `npm run redrive -- WORKFLOW_ID [--no-wait]`: reruns a file's workflow that failed (or finished with
 * tolerated chunk failures). The new run takes the earlier run's plan and reuses every chunk whose part is in
 * staging and verifies, so only the failed chunks run again; then it merges, verifies and reports as usual.
 *
 * Connects like the worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, …), or to the stack of `npm run dev` when
 * TEMPORAL_ADDRESS is not set and that stack is running.
 */
import { parseArgs } from 'node:util';
import { WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { ExplainedError } from '../contract/failures';
import { runMain } from '../common/run-main';
import { processFile } from '../workflows';
import { fileStartOptions, type ProcessFileInput } from '../contract/workflow';
import { pipelineClient } from './pipeline-client';

const USAGE = 'usage: npm run redrive -- WORKFLOW_ID [--no-wait]';

/**
 * Starts the rerun of `workflowId` with the input of its latest run. Refuses a running workflow (it is
 * still working) and one that did not get as far as a plan (nothing to reuse: upload the file again).
 */
export async function redrive(client: Client, workflowId: string): Promise<{ runId: string }> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe().catch((err: Error) => {
    throw new ExplainedError(
      `no workflow ${workflowId} (${err.message}): copy its ID from the Temporal UI or \`temporal workflow list\``,
    );
  });
  if (description.status.name === 'RUNNING') {
    throw new ExplainedError(
      `${workflowId} is still running: wait for it to finish, or cancel it (temporal workflow cancel --workflow-id …) and redrive it then`,
    );
  }
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload)
    throw new ExplainedError(`${workflowId} has no input to rerun with: upload the file again instead`);
  const input = defaultPayloadConverter.fromPayload<ProcessFileInput>(payload);
  const started = await client.workflow.start(processFile, {
    workflowId,
    taskQueue: description.taskQueue,
    args: [input],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    ...fileStartOptions(input.object, 'npm run redrive'),
  });
  return { runId: started.firstExecutionRunId };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'no-wait': { type: 'boolean' } },
  });
  const [workflowId] = positionals;
  if (!workflowId || positionals.length > 1) throw new Error(USAGE);
  const { client, connection } = await pipelineClient('redrive');
  try {
    const { runId } = await redrive(client, workflowId);
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

if (require.main === module) runMain('redrive', main);
