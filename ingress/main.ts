/** The ingress process: configuration from the environment, then poll until SIGTERM/SIGINT. */
import '../common/instrument';
import { Client, Connection } from '@temporalio/client';
import { createAwsClients } from '../common/aws';
import { INGRESS_VARIABLES, loadConfig } from '../common/config';
import { noRedrivePolicy, readRedrivePolicy } from '../common/dead-letters';
import { runMain } from '../common/run-main';
import { createLogger } from '../common/log';
import { startTracing } from '../common/tracing-sdk';
import { temporalConnection, temporalUnreachable } from '../common/temporal';
import { createIngress, PROBE_MAX_MS } from './ingress';

async function main(): Promise<void> {
  const config = loadConfig('ingress', INGRESS_VARIABLES);
  const log = createLogger('ingress', config.LOG_LEVEL);
  const tracing = startTracing('ingress');
  const { connectionOptions, namespace } = temporalConnection();
  const connection = await Connection.connect({
    ...connectionOptions,
    // gRPC backs reconnects off up to 2 minutes; after an outage the ingress should be back within a probe.
    channelArgs: { 'grpc.max_reconnect_backoff_ms': PROBE_MAX_MS },
  }).catch((err: Error) => {
    throw temporalUnreachable(connectionOptions.address, err);
  });
  const client = new Client({ connection, namespace, plugins: [tracing.plugin] });
  const { sqs } = createAwsClients(config, 'ingress');
  // The dead letters the ingress moves go where SQS itself would move them.
  const redrive = await readRedrivePolicy(sqs, config.QUEUE_URL);
  if (!redrive) throw noRedrivePolicy(config.QUEUE_URL);
  const ingress = createIngress({
    sqs,
    client,
    queueUrl: config.QUEUE_URL,
    deadLetterQueueUrl: redrive.deadLetterQueueUrl,
    inputBuckets: config.INPUT_BUCKETS,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    waitSeconds: config.INGRESS_WAIT_SECONDS,
    maxMessages: config.INGRESS_MAX_MESSAGES,
    workflowOptions: {
      visibilityTimeoutSeconds: config.VISIBILITY_TIMEOUT_SECONDS,
      computeTimeoutSeconds: config.COMPUTE_TIMEOUT_SECONDS,
      heartbeatTimeoutSeconds: config.COMPUTE_HEARTBEAT_TIMEOUT_SECONDS,
      inlineMaxBytes: config.INLINE_MAX_BYTES,
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
  await tracing.shutdown();
  sqs.destroy();
}

runMain('ingress', main);
