/**
 * The Temporal worker process: hosts `processFile` with its quick activities on the main task queue; the
 * compute activity on its own task queue, where concurrent jobs per worker and job starts per second
 * across all workers are bounded (so a burst of files does not hit AWS API throttling); and inline runs on
 * a third, with one slot per thread of the worker's pool, so a burst of small files waits in Temporal.
 */
import '../common/instrument';
import { availableParallelism } from 'node:os';
import { makeTelemetryFilterString, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createBackends } from '../activities/backends';
import { createAwsClients } from '../common/aws';
import { checkComputeMode, loadConfig, WORKER_VARIABLES } from '../common/config';
import { createLogger, temporalLogger } from '../common/log';
import { startTracing } from '../common/tracing-sdk';
import { openSchemaFile } from '../common/schema';
import { runMain } from '../common/run-main';
import { temporalConnection, temporalUnreachable } from '../common/temporal';
import { computeTaskQueue, inlineTaskQueue } from '../contract/workflow';

async function main(): Promise<void> {
  const config = loadConfig('worker', WORKER_VARIABLES);
  checkComputeMode('worker', config);
  const log = createLogger('worker', config.LOG_LEVEL);
  // The SDK's lines (workflows, activities, and its Rust core's warnings) as the worker's own JSON lines; its
  // metrics and the pipeline's (workflows/metrics.ts) on one Prometheus endpoint.
  Runtime.install({
    logger: temporalLogger(log),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(config.METRICS_ADDRESS ? { metrics: { prometheus: { bindAddress: config.METRICS_ADDRESS } } } : {}),
    },
  });
  const { connectionOptions, namespace } = temporalConnection();
  const tracing = startTracing('worker');
  const connection = await NativeConnection.connect(connectionOptions).catch((err: Error) => {
    throw temporalUnreachable(connectionOptions.address, err);
  });
  const clients = createAwsClients(config, 'worker');
  const cores = availableParallelism();
  const inlineThreads = config.INLINE_MAX_CONCURRENT ?? cores;
  // Local jobs are processes on this machine: more at once than its cores only thrash it.
  const computeSlots =
    config.COMPUTE_MODE === 'local'
      ? Math.min(config.COMPUTE_MAX_CONCURRENT_JOBS, cores)
      : config.COMPUTE_MAX_CONCURRENT_JOBS;
  const backends = createBackends(
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
      inlineThreads: Math.max(inlineThreads, 1),
    },
    clients,
  );
  // Read once; a bad schema file or default stops the worker now, not each file it inspects.
  const schemas = {
    file: openSchemaFile(config.SCHEMA_FILE),
    ...(config.SCHEMA ? { name: config.SCHEMA } : {}),
  };
  schemas.file.schema(schemas.name);
  const activities = createActivities({
    ...clients,
    outputBucket: config.OUTPUT_BUCKET,
    schemas,
    dynamodbTable: config.DYNAMODB_TABLE,
    backends,
    awsRegion: config.AWS_REGION,
    ...(config.AWS_ENDPOINT_URL ? { awsEndpointUrl: config.AWS_ENDPOINT_URL } : {}),
  });
  // In-flight activities get this long after SIGTERM; the ECS service's stopTimeout (infra/) is longer.
  // Tracing: Temporal's interceptors carry the trace from the ingress through workflows and activities.
  const common = { connection, namespace, shutdownGraceTime: '30 seconds', plugins: [tracing.plugin] };
  const workers = await Promise.all([
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
      maxConcurrentActivityTaskExecutions: computeSlots,
      maxTaskQueueActivitiesPerSecond: config.COMPUTE_SUBMITS_PER_SECOND,
    }),
    // INLINE_MAX_CONCURRENT=0: this worker takes no inline runs (others may).
    ...(inlineThreads > 0
      ? [
          Worker.create({
            ...common,
            taskQueue: inlineTaskQueue(config.TEMPORAL_TASK_QUEUE),
            activities,
            maxConcurrentActivityTaskExecutions: inlineThreads,
          }),
        ]
      : []),
  ]);
  log.info('worker ready', {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    namespace,
    computeMode: config.COMPUTE_MODE,
    computeSlots,
    inlineThreads,
  });
  await Promise.all(workers.map((w) => w.run()));
  for (const backend of Object.values(backends)) await backend.close?.();
  await connection.close();
  await tracing.shutdown();
  log.info('worker stopped');
}

runMain('worker', main);
