/** The operator's console on a local stack: `npm run dev`, the demo, the screenshots and the browser tests. */
import type { Client } from '@temporalio/client';
import { deadLetterQueuesOf } from '../console/dead-letters';
import type { ConsoleDeps } from '../console/file';
import { startConsole, type RunningConsole } from '../console/serve';
import type { Stack } from './stack';

/** Starts the console on `stack`'s S3 and queues, with `client`; port 0 (the default) takes a free one. */
export async function startStackConsole(
  stack: Stack,
  client: Client,
  options: Pick<ConsoleDeps, 'temporalUiUrl' | 'upload'> & { port?: number } = {},
): Promise<RunningConsole> {
  const { port = 0, ...rest } = options;
  return startConsole(
    { client, s3: stack.aws.s3, ...(await deadLetterQueuesOf(stack.aws.sqs, stack.queueUrl)), ...rest },
    port,
  );
}
