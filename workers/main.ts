/** The Temporal worker process: hosts `processFile` and its activities until SIGTERM/SIGINT. */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createLocalBackend } from '../activities/local-backend';
import { createAwsClients } from '../common/aws';
import { loadConfig } from '../common/config';
import { runMain } from '../common/main';
import { createLogger } from '../common/log';
import { TEMPORAL_ENV, temporalConnectionOptions, temporalUnreachable } from '../common/temporal';

async function main(): Promise<void> {
  const config = loadConfig('worker', [
    ...TEMPORAL_ENV,
    'AWS_REGION',
    'AWS_ENDPOINT_URL',
    'OUTPUT_BUCKET',
    'HEARTBEAT_SECONDS',
    'LOG_LEVEL',
  ]);
  const log = createLogger('worker', config.LOG_LEVEL);
  const connection = await NativeConnection.connect(temporalConnectionOptions(config)).catch((err: Error) => {
    throw temporalUnreachable(config.TEMPORAL_ADDRESS, err);
  });
  const { s3, sqs } = createAwsClients(config);
  // Until the Batch and ECS backends exist, both routes run the processor as a local process.
  const local = createLocalBackend({ heartbeatSeconds: config.HEARTBEAT_SECONDS });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities({
      s3,
      sqs,
      outputBucket: config.OUTPUT_BUCKET,
      backends: { batch: local, ecs: local },
      awsRegion: config.AWS_REGION,
      ...(config.AWS_ENDPOINT_URL ? { awsEndpointUrl: config.AWS_ENDPOINT_URL } : {}),
    }),
  });
  log.info('worker ready', { taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE });
  await worker.run();
  await connection.close();
  log.info('worker stopped');
}

runMain('worker', main);
