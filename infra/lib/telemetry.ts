/**
 * The worker's telemetry on AWS: an AWS Distro for OpenTelemetry (ADOT) collector beside the worker container
 * scrapes the worker's Prometheus endpoint (`METRICS_ADDRESS`) and writes the metrics the dashboard and the
 * scaling read to CloudWatch as embedded metric format (EMF) log events; it also receives OTLP traces on
 * 127.0.0.1 for X-Ray, ready for when the worker sends them. And the CloudWatch metrics it makes, by name.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

/**
 * The collector image, pinned (v0.49.0, the latest release found: OpenTelemetry Collector contrib v0.156.0). Raise it
 * deliberately, reading the release notes: its configuration below follows that version.
 */
export const ADOT_IMAGE = 'public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0';

/** Container name of the collector in the worker's task. */
export const COLLECTOR_CONTAINER = 'otel-collector';

/** An unprivileged user for the collector (a static binary in a scratch image: it needs no user of its own). */
export const COLLECTOR_USER = '10001:10001';

/** Where the worker serves its metrics: loopback only, the collector shares the task's network namespace. */
export const WORKER_METRICS_ADDRESS = '127.0.0.1:9464';

/** OTLP receiver endpoints (traces), loopback only. */
export const OTLP_GRPC_ENDPOINT = '127.0.0.1:4317';
export const OTLP_HTTP_ENDPOINT = '127.0.0.1:4318';

/** The CloudWatch namespace of the worker's metrics. */
export const METRICS_NAMESPACE = 'FilePipeline';

/** How often the collector scrapes the worker: one data point per CloudWatch minute. */
export const SCRAPE_INTERVAL = Duration.seconds(60);

/**
 * The pipeline's `job` tag, under the name it has in CloudWatch. A Prometheus scrape owns the label `job` (the
 * scrape job's name, which the collector's receiver turns into the resource's service.name), so the worker's
 * own `job` arrives as `exported_job`; the scrape renames it to this.
 */
export const JOB_DIMENSION = 'pipeline_job';

/** The Temporal SDK's task-queue label on its own metrics (`task_queue`; its workflow metric meter's is `taskQueue`). */
export const TASK_QUEUE_DIMENSION = 'task_queue';

/** The histograms the collector turns into per-minute deltas (the EMF exporter sends their sum and count as they come). */
export const HISTOGRAMS = [
  'temporal_workflow_task_schedule_to_start_latency',
  'temporal_activity_schedule_to_start_latency',
  'pipeline_file_seconds',
  'pipeline_processing_seconds',
] as const;

/**
 * Which metrics become CloudWatch metrics, and with which dimensions: few, since CloudWatch bills each metric
 * (name and dimension values). Every other metric of the endpoint stays a field of the EMF log events only.
 */
export const METRIC_DECLARATIONS = [
  {
    // The Temporal SDK's: per task queue (the worker's main, compute and inline queues), in milliseconds.
    dimensions: [[TASK_QUEUE_DIMENSION]],
    metric_name_selectors: ['^temporal_(workflow_task|activity)_schedule_to_start_latency$'],
  },
  // Files by outcome (throughput, failures) and by job, route and outcome (where they ran).
  {
    dimensions: [['outcome'], [JOB_DIMENSION, 'route', 'outcome']],
    metric_name_selectors: ['^pipeline_files$'],
  },
  { dimensions: [['outcome']], metric_name_selectors: ['^pipeline_file_seconds$'] },
  { dimensions: [[JOB_DIMENSION, 'backend']], metric_name_selectors: ['^pipeline_processing_seconds$'] },
  { dimensions: [[JOB_DIMENSION, 'kind']], metric_name_selectors: ['^pipeline_rows$'] },
  { dimensions: [[JOB_DIMENSION]], metric_name_selectors: ['^pipeline_bytes$'] },
  { dimensions: [['type']], metric_name_selectors: ['^pipeline_dead_letters$'] },
];

/** The X-Ray calls of the collector's awsxray exporter: none takes a resource (Service Authorization Reference). */
export const XRAY_ACTIONS = [
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
];

/** What the collector's configuration depends on. */
export interface CollectorSettings {
  readonly region: string;
  /** The worker's: its metrics' log group (EMF events, created by the stack). Without it, traces only. */
  readonly metricsLogGroupName?: string;
}

/** The worker's metrics: Prometheus scrape → histograms to deltas → awsemf. */
function metricsPipeline(region: string, metricsLogGroupName: string) {
  return {
    receivers: {
      prometheus: {
        config: {
          scrape_configs: [
            {
              job_name: 'worker',
              scrape_interval: `${SCRAPE_INTERVAL.toSeconds()}s`,
              static_configs: [{ targets: [WORKER_METRICS_ADDRESS] }],
              // The worker's `job` label, renamed `exported_job` by the scrape, under a name of its own (the
              // default regex and replacement: `$` would be read as a variable by the collector).
              metric_relabel_configs: [
                { source_labels: ['exported_job'], target_label: JOB_DIMENSION },
                { action: 'labeldrop', regex: 'exported_job' },
              ],
            },
          ],
        },
      },
    },
    processors: {
      // Prometheus histograms are cumulative since the worker started, and the EMF exporter sends a histogram's
      // sum and count as they come (its delta conversion covers counters only): without this, a minute's
      // average would be the task's lifetime average. One collector per worker task: its state is that task's.
      cumulativetodelta: { include: { match_type: 'strict', metrics: [...HISTOGRAMS] } },
    },
    exporters: {
      awsemf: {
        region,
        namespace: METRICS_NAMESPACE,
        log_group_name: metricsLogGroupName,
        log_stream_name: 'worker',
        dimension_rollup_option: 'NoDimensionRollup',
        metric_declarations: METRIC_DECLARATIONS,
      },
    },
    pipeline: {
      receivers: ['prometheus'],
      processors: ['cumulativetodelta', 'batch'],
      exporters: ['awsemf'],
    },
  };
}

/**
 * The collector's configuration, as a plain object (serialized as JSON, which YAML reads as it is): OTLP traces
 * on loopback → awsxray; with the worker's metrics log group, its metrics too ({@link metricsPipeline}).
 */
export function collectorConfig(settings: CollectorSettings) {
  const metrics = settings.metricsLogGroupName
    ? metricsPipeline(settings.region, settings.metricsLogGroupName)
    : undefined;
  return {
    receivers: {
      ...metrics?.receivers,
      otlp: {
        protocols: { grpc: { endpoint: OTLP_GRPC_ENDPOINT }, http: { endpoint: OTLP_HTTP_ENDPOINT } },
      },
    },
    processors: { ...metrics?.processors, batch: {} },
    exporters: { ...metrics?.exporters, awsxray: { region: settings.region } },
    service: {
      pipelines: {
        ...(metrics ? { metrics: metrics.pipeline } : {}),
        traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['awsxray'] },
      },
      // The collector's own metrics endpoint (:8888) is not needed.
      telemetry: { metrics: { level: 'none' } },
    },
  };
}

/**
 * Adds the collector to a service's task (`id` names its constructs): non-essential (a collector failure loses
 * telemetry, never files), read-only root filesystem (its configuration needs no disk), an unprivileged user, no
 * capability, its log lines in the service's log group under `otel/`. Grants the task role the X-Ray calls, and
 * with `metricsLogGroup` (the worker's) the EMF writes.
 */
export function addCollector(
  scope: Construct,
  id: string,
  task: ecs.FargateTaskDefinition,
  props: { logGroup: logs.ILogGroup; metricsLogGroup?: logs.ILogGroup },
): ecs.ContainerDefinition {
  const stack = Stack.of(scope);
  const config = collectorConfig({
    region: stack.region,
    ...(props.metricsLogGroup ? { metricsLogGroupName: props.metricsLogGroup.logGroupName } : {}),
  });
  const linuxParameters = new ecs.LinuxParameters(scope, `${id}CollectorLinuxParameters`, {
    initProcessEnabled: true,
  });
  linuxParameters.dropCapabilities(ecs.Capability.ALL);
  const container = task.addContainer(COLLECTOR_CONTAINER, {
    containerName: COLLECTOR_CONTAINER,
    image: ecs.ContainerImage.fromRegistry(ADOT_IMAGE),
    essential: false,
    // A hard cap: the collector must never take the worker's memory.
    memoryLimitMiB: 256,
    environment: { AOT_CONFIG_CONTENT: stack.toJsonString(config) },
    logging: ecs.LogDriver.awsLogs({ logGroup: props.logGroup, streamPrefix: 'otel' }),
    readonlyRootFilesystem: true,
    user: COLLECTOR_USER,
    linuxParameters,
  });
  grantCollector(task.taskRole as iam.Role, props.metricsLogGroup);
  return container;
}

/**
 * What the collector calls with the task role: the EMF log events into their log group (the group exists, so
 * no CreateLogGroup), and X-Ray's trace and sampling calls, which have no resource-level permission.
 */
function grantCollector(role: iam.Role, metricsLogGroup: logs.ILogGroup | undefined): void {
  if (metricsLogGroup) {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'CollectorWritesMetrics',
        actions: ['logs:PutLogEvents', 'logs:CreateLogStream', 'logs:DescribeLogStreams'],
        resources: [metricsLogGroup.logGroupArn],
      }),
    );
  }
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'CollectorSendsTraces',
      actions: XRAY_ACTIONS,
      resources: ['*'],
    }),
  );
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'The telemetry collector\'s X-Ray calls (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) have no resource-level permission (Resource "*"); its EMF writes are limited to the metrics log group.',
        appliesTo: ['Resource::*'],
      },
    ],
    true,
  );
}

/** A metric of {@link METRICS_NAMESPACE}. */
export function pipelineMetric(
  metricName: string,
  dimensionsMap: Record<string, string>,
  options: { statistic: string; period?: Duration; label?: string },
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap,
    statistic: options.statistic,
    period: options.period ?? Duration.minutes(1),
    ...(options.label ? { label: options.label } : {}),
  });
}

/**
 * The mean schedule-to-start latency of a kind of task on a task queue, per minute, in milliseconds (the SDK's
 * unit for durations): how long a task waited for a worker slot. From the histogram's sum and count: the EMF
 * exporter sends a Prometheus histogram as a statistic set without its buckets, so Average is exact, and
 * percentiles, Minimum and Maximum are not available.
 */
export function scheduleToStartLatency(
  kind: 'workflow_task' | 'activity',
  taskQueue: string,
  label?: string,
): cloudwatch.Metric {
  return pipelineMetric(
    `temporal_${kind}_schedule_to_start_latency`,
    { [TASK_QUEUE_DIMENSION]: taskQueue },
    { statistic: 'Average', ...(label ? { label } : {}) },
  );
}
