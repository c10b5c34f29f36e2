/**
 * The dashboard rows of the worker's own metrics (infra/lib/telemetry.ts): throughput, time per file, failures,
 * and the backlog as Temporal sees it (schedule-to-start latency) beside the worker count the scaling sets.
 *
 * Latencies are per-minute means, not percentiles: the EMF exporter sends a Prometheus histogram as a
 * statistic set (sum and count, no buckets), from which CloudWatch computes Average exactly but no percentile
 * (and Minimum and Maximum, which Prometheus histograms do not carry, read 0).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import { computeTaskQueue, inlineTaskQueue } from '../../contract/workflow';
import { JOB_DIMENSION, METRICS_NAMESPACE, pipelineMetric, scheduleToStartLatency } from './telemetry';

/** Every `outcome` of `pipeline_files` (workflows/metrics.ts). */
export const FILE_OUTCOMES = ['processed', 'processed-with-failed-chunks', 'skipped', 'failed', 'released'];

/** What the rows show. */
export interface TelemetryWidgetsProps {
  /** The worker's main task queue; the compute and inline queues are named after it. */
  readonly taskQueue: string;
  readonly cluster: ecs.ICluster;
  readonly workerService: ecs.FargateService;
  /** The schedule-to-start latency the worker's scaling tracks, drawn as a line. */
  readonly scheduleToStartTarget: Duration;
}

/** All the metrics of one name and dimension set, by a CloudWatch SEARCH (one line per combination). */
function search(metricName: string, dimensions: string[], statistic: string, label: string) {
  const schema = [METRICS_NAMESPACE, ...dimensions].join(',');
  return new cloudwatch.MathExpression({
    expression: `SEARCH('{${schema}} MetricName="${metricName}"', '${statistic}', 300)`,
    usingMetrics: {},
    label,
    period: Duration.minutes(5),
  });
}

/** The rows, each a list of widgets. */
export function telemetryWidgets(props: TelemetryWidgetsProps): cloudwatch.IWidget[][] {
  const files = (outcome: string, label = outcome) =>
    pipelineMetric('pipeline_files', { outcome }, { statistic: 'Sum', label });
  const fileSeconds = (outcome: string) =>
    pipelineMetric('pipeline_file_seconds', { outcome }, { statistic: 'Average', label: `${outcome}: mean` });
  const { taskQueue } = props;
  const count = (metricName: string) =>
    new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName,
      dimensionsMap: {
        ClusterName: props.cluster.clusterName,
        ServiceName: props.workerService.serviceName,
      },
      statistic: 'Average',
      period: Duration.minutes(1),
      label: metricName === 'RunningTaskCount' ? 'running' : 'desired',
    });
  return [
    [
      new cloudwatch.GraphWidget({
        title: 'Files per minute, by outcome',
        left: FILE_OUTCOMES.map((o) => files(o)),
        stacked: true,
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Seconds per file (mean per minute: no percentiles from EMF histograms)',
        left: ['processed', 'processed-with-failed-chunks', 'failed'].map(fileSeconds),
        right: [search('pipeline_processing_seconds', [JOB_DIMENSION, 'backend'], 'Average', 'processing')],
        leftYAxis: { label: 'hand-over to end (s)', showUnits: false },
        rightYAxis: { label: 'processor runs (s)', showUnits: false },
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Failures: files failed or released, dead letters by type',
        left: [files('failed', 'failed (dead-lettered)'), files('released', 'released (delivered again)')],
        right: [search('pipeline_dead_letters', ['type'], 'Sum', 'dead letters')],
        width: 8,
      }),
    ],
    [
      new cloudwatch.GraphWidget({
        title: 'Schedule-to-start latency (ms, mean per minute): the backlog in Temporal',
        left: [
          scheduleToStartLatency('workflow_task', taskQueue, 'workflow tasks'),
          scheduleToStartLatency('activity', taskQueue, 'activities'),
          scheduleToStartLatency('activity', computeTaskQueue(taskQueue), 'processor runs (compute)'),
          scheduleToStartLatency('activity', inlineTaskQueue(taskQueue), 'inline runs'),
        ],
        leftAnnotations: [
          { value: props.scheduleToStartTarget.toMilliseconds(), label: 'scaling target (main queue)' },
        ],
        width: 16,
      }),
      new cloudwatch.GraphWidget({
        title: 'Worker tasks',
        left: [count('DesiredTaskCount'), count('RunningTaskCount')],
        width: 8,
      }),
    ],
  ];
}
