/** The ingress process: configuration from the environment, then poll until SIGTERM/SIGINT. */
import { Client, Connection } from '@temporalio/client';
import { createAwsClients } from '../common/aws';
import { loadConfig } from '../common/config';
import { runMain } from '../common/main';
import { createLogger } from '../common/log';
import { TEMPORAL_ENV, temporalConnectionOptions, temporalUnreachable } from '../common/temporal';
import { createIngress } from './ingress';

async function main(): Promise<void> {
  const config = loadConfig('ingress', [
    ...TEMPORAL_ENV,
    'AWS_REGION',
    'AWS_ENDPOINT_URL',
    'QUEUE_URL',
    'INGRESS_WAIT_SECONDS',
    'INGRESS_MAX_MESSAGES',
    'VISIBILITY_TIMEOUT_SECONDS',
    'COMPUTE_TIMEOUT_SECONDS',
    'COMPUTE_HEARTBEAT_TIMEOUT_SECONDS',
    'LOG_LEVEL',
  ]);
  const log = createLogger('ingress', config.LOG_LEVEL);
  const connection = await Connection.connect(temporalConnectionOptions(config)).catch((err: Error) => {
    throw temporalUnreachable(config.TEMPORAL_ADDRESS, err);
  });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const { sqs } = createAwsClients(config);
  const ingress = createIngress({
    sqs,
    client,
    queueUrl: config.QUEUE_URL,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    waitSeconds: config.INGRESS_WAIT_SECONDS,
    maxMessages: config.INGRESS_MAX_MESSAGES,
    workflowOptions: {
      visibilityTimeoutSeconds: config.VISIBILITY_TIMEOUT_SECONDS,
      computeTimeoutSeconds: config.COMPUTE_TIMEOUT_SECONDS,
      heartbeatTimeoutSeconds: config.COMPUTE_HEARTBEAT_TIMEOUT_SECONDS,
    },
    log,
  });

  const stop = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      log.info(`${sig}: finishing the messages in hand`);
      stop.abort();
    });
  }
  await ingress.run(stop.signal);
  await connection.close();
  sqs.destroy();
}

runMain('ingress', main);
