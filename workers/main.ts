/**
 * The Temporal worker process: hosts `processFile` with its quick activities on the main task queue, and
 * the compute activity on its own task queue, where concurrent jobs per worker and job starts per second
 * across all workers are bounded (so a burst of files does not hit AWS API throttling).
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createBackends } from '../activities/backends';
import { createAwsClients } from '../common/aws';
import { checkComputeMode, loadConfig, WORKER_VARIABLES } from '../common/config';
import { createLogger } from '../common/log';
import { runMain } from '../common/run-main';
import { temporalConnectionOptions, temporalUnreachable } from '../common/temporal';
import { computeTaskQueue } from '../contract/workflow';

async function main(): Promise<void> {
  const config = loadConfig('worker', WORKER_VARIABLES);
  checkComputeMode('worker', config);
  const log = createLogger('worker', config.LOG_LEVEL);
  const connection = await NativeConnection.connect(temporalConnectionOptions(config)).catch((err: Error) => {
    throw temporalUnreachable(config.TEMPORAL_ADDRESS, err);
  });
  const clients = createAwsClients(config, 'worker');
  const activities = createActivities({
    ...clients,
    outputBucket: config.OUTPUT_BUCKET,
    backends: createBackends(
      {
        mode: config.COMPUTE_MODE,
        batch: {
          jobQueue: config.BATCH_JOB_QUEUE,
          jobDefinition: config.BATCH_JOB_DEFINITION,
          runnableTimeoutSeconds: config.BATCH_RUNNABLE_TIMEOUT_SECONDS,
        },
        ecs: {
          cluster: config.ECS_CLUSTER,
          taskDefinition: config.ECS_TASK_DEFINITION,
          containerName: config.ECS_CONTAINER_NAME,
          capacityProvider: config.ECS_CAPACITY_PROVIDER,
          subnets: config.ECS_SUBNETS,
          securityGroups: config.ECS_SECURITY_GROUPS,
        },
        pollSeconds: config.COMPUTE_POLL_SECONDS,
        heartbeatSeconds: config.HEARTBEAT_SECONDS,
      },
      clients,
    ),
    awsRegion: config.AWS_REGION,
    ...(config.AWS_ENDPOINT_URL ? { awsEndpointUrl: config.AWS_ENDPOINT_URL } : {}),
  });
  // In-flight activities get this long after SIGTERM; the ECS service's stopTimeout (infra/) is longer.
  const common = { connection, namespace: config.TEMPORAL_NAMESPACE, shutdownGraceTime: '30 seconds' };
  const [orchestration, compute] = await Promise.all([
    Worker.create({
      ...common,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      ...(config.WORKFLOW_BUNDLE_PATH
        ? { workflowBundle: { codePath: config.WORKFLOW_BUNDLE_PATH } }
        : { workflowsPath: require.resolve('../workflows') }),
      activities,
    }),
    Worker.create({
      ...common,
      taskQueue: computeTaskQueue(config.TEMPORAL_TASK_QUEUE),
      activities,
      maxConcurrentActivityTaskExecutions: config.COMPUTE_MAX_CONCURRENT_JOBS,
      maxTaskQueueActivitiesPerSecond: config.COMPUTE_SUBMITS_PER_SECOND,
    }),
  ]);
  log.info('worker ready', {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    namespace: config.TEMPORAL_NAMESPACE,
    computeMode: config.COMPUTE_MODE,
  });
  await Promise.all([orchestration.run(), compute.run()]);
  await connection.close();
  log.info('worker stopped');
}

runMain('worker', main);
