/**
 * Redrive: the rerun of a file's workflow that failed (or finished with tolerated chunk failures), with the
 * input of its latest run. The new run takes the earlier run's plan and reuses every chunk whose part is in
 * staging and verifies, so only the failed chunks run again. `npm run redrive` and the console's file page
 * start it.
 */
import { WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { ExplainedError } from '../contract/failures';
import { fileStartOptions, PROCESS_FILE_WORKFLOW, type ProcessFileInput } from '../contract/workflow';

/**
 * Starts the rerun of `workflowId`; `startedBy` says who asked, in the run's details. Refuses a running
 * workflow (it is still working) and one with no input to rerun with.
 */
export async function redrive(
  client: Client,
  workflowId: string,
  startedBy: string,
): Promise<{ runId: string }> {
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
  const started = await client.workflow.start(PROCESS_FILE_WORKFLOW, {
    workflowId,
    taskQueue: description.taskQueue,
    args: [input],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    ...fileStartOptions(input.object, startedBy),
  });
  return { runId: started.firstExecutionRunId };
}
