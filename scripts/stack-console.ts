/** The operator's console on a local stack: `npm run dev`, the demo, the screenshots and the browser tests. */
import type { Client } from '@temporalio/client';
import { createAwsClients } from '../common/aws';
import { deadLetterQueuesOf } from '../console/dead-letters';
import type { ConsoleDeps } from '../console/file';
import { startConsole, type RunningConsole } from '../console/serve';
import type { Stack } from './stack';

/**
 * Starts the console on `stack`'s S3 and queues, with `client`; port 0 (the default) takes a free one. Its AWS
 * clients are the console process's own, recording their calls where the stack's processes do (the tests'
 * `AWS_CALL_LOG_DIR`, for the permission proof).
 */
export async function startStackConsole(
  stack: Stack,
  client: Client,
  options: Pick<ConsoleDeps, 'temporalUiUrl' | 'upload'> & { port?: number } = {},
): Promise<RunningConsole> {
  const { port = 0, ...rest } = options;
  const { s3, sqs } = createAwsClients(
    {
      AWS_REGION: stack.region,
      AWS_ENDPOINT_URL: stack.awsEndpoint,
      AWS_CALL_LOG_DIR: stack.env.AWS_CALL_LOG_DIR,
    },
    'console',
  );
  const running = await startConsole(
    { client, s3, ...(await deadLetterQueuesOf(sqs, stack.queueUrl)), ...rest },
    { port },
  );
  return {
    url: running.url,
    async close() {
      await running.close();
      s3.destroy();
      sqs.destroy();
    },
  };
}
