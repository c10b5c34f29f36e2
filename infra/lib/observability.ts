/**
 * Alarms and failure events to the paging topic, the processor stops the pipeline recovers from to the events
 * topic (infra/lib/paging.ts), and a dashboard. What each alarm means and what to do about it is in
 * infra/README.md.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ProcessorCompute } from './compute';
import { createTopics, reportProcessorFailures, type ProcessorFailureRules } from './paging';
import { telemetryWidgets } from './telemetry-widgets';

/** Props of {@link Observability}. */
export interface ObservabilityProps {
  /** The notification queue: depth and age of its oldest message. */
  readonly queue: sqs.IQueue;
  /** Alarmed when dead letters arrive. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Its job queue's FAILED jobs and its cluster's failed tasks are reported. */
  readonly compute: ProcessorCompute;
  /** The services cluster and its services. */
  readonly servicesCluster: ecs.ICluster;
  readonly workerService: ecs.FargateService;
  readonly ingressService: ecs.FargateService;
  /** The worker's main task queue: its schedule-to-start latency, and the compute and inline queues'. */
  readonly taskQueue: string;
  /** The schedule-to-start latency the worker's scaling tracks. */
  readonly scheduleToStartTarget: Duration;
  /** A message older than this is stuck (alarm on the queue's oldest message): see `maxMessageAge`. */
  readonly maxMessageAge: Duration;
  /**
   * E-mail address subscribed to the alarm topic.
   * @default - none: the stack warns that the topic has no subscriber
   */
  readonly alarmEmail?: string;
}

/** The topics, the alarms and failure events sent to them, and the dashboard. */
export class Observability extends Construct {
  /** Where every alarm and failure event goes; subscribe people or a pager to it. */
  readonly alarmTopic: sns.Topic;
  /** Processor stops the pipeline recovers from (the worker's own, Spot reclaims): not for a pager. */
  readonly eventsTopic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  /** Batch jobs of the processor job queue that ended FAILED, for a reason of their own (pages). */
  readonly batchFailureRule: events.Rule;
  /** Every rule on processor runs, paging or not. */
  readonly processorRules: ProcessorFailureRules;
  /** New arrivals in the dead-letter queue. */
  readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const topics = createTopics(this, props.alarmEmail);
    this.alarmTopic = topics.alarmTopic;
    this.eventsTopic = topics.eventsTopic;
    const notify = new cwActions.SnsAction(this.alarmTopic);
    // OK actions too: a pager resolves the incident when the alarm clears, and the next ALARM pages again.
    const alarm = (name: string, alarmProps: cloudwatch.AlarmProps) => {
      const created = new cloudwatch.Alarm(this, name, alarmProps);
      created.addAlarmAction(notify);
      created.addOkAction(notify);
      return created;
    };

    const dlqCount = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/SQS',
        metricName,
        dimensionsMap: { QueueName: props.deadLetterQueue.queueName },
        statistic: 'Maximum',
        period: Duration.minutes(5),
      });
    const dlqDepth = dlqCount('ApproximateNumberOfMessagesVisible');
    // Arrivals, not depth: a depth alarm stays in ALARM while old dead letters wait for someone, so a new
    // failure pages nobody. NumberOfMessagesSent of the dead-letter queue would miss half of them: SQS counts
    // only SendMessage there (the worker's and the ingress's dead letters), not the messages its redrive
    // policy moves after 5 receives (AWS/SQS metrics, NumberOfMessagesSent). So the alarm watches the
    // queue's total, visible plus in flight (the console receives dead letters to show them, which moves
    // them between the two), rise from one 5-minute period to the next. FILL(…, 0): an idle queue publishes
    // no metrics at all, and the first dead letter after a quiet spell must still be a rise from 0. 4
    // periods, any one rising: wide enough for SQS's late metrics of a queue turning active; the alarm clears
    // (OK action) 20 minutes after the last arrival, and the next one pages again. Missing data is no
    // arrival: NOT_BREACHING.
    const dlqArrivals = new cloudwatch.MathExpression({
      expression: 'DIFF(FILL(visible, 0) + FILL(inFlight, 0))',
      usingMetrics: { visible: dlqDepth, inFlight: dlqCount('ApproximateNumberOfMessagesNotVisible') },
      period: Duration.minutes(5),
      label: 'new dead letters',
    });
    this.deadLetterAlarm = alarm('NewDeadLetters', {
      alarmDescription:
        'New messages arrived in the dead-letter queue: files failed permanently (attributes failure-type, failure-reason, workflow-id) or the ingress could not use them (failure-type UnusableMessage, ForeignBucket).',
      metric: dlqArrivals,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 4,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const oldestAge = props.queue.metricApproximateAgeOfOldestMessage({
      period: Duration.minutes(5),
      statistic: 'Maximum',
    });
    const ageAlarm = alarm('OldestMessageTooOld', {
      alarmDescription: `A notification has been in the queue for more than ${props.maxMessageAge.toHumanString()}, longer than every run of its file could take: the ingress is not handing messages over, or a workflow is stuck without acknowledging.`,
      metric: oldestAge,
      threshold: props.maxMessageAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.processorRules = reportProcessorFailures(this, props.compute, topics);
    this.batchFailureRule = this.processorRules.batchFailed;
    const triggered = (rule: events.Rule, label: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'TriggeredRules',
        dimensionsMap: { RuleName: rule.ruleName },
        statistic: 'Sum',
        period: Duration.minutes(5),
        label,
      });
    const processorFailures = [
      triggered(this.processorRules.batchFailed, 'failed Batch jobs'),
      triggered(this.processorRules.ecsFailed, 'failed ECS tasks'),
      triggered(this.processorRules.batchStoppedAsExpected, 'Batch jobs stopped by the worker or Spot'),
      triggered(this.processorRules.ecsStoppedAsExpected, 'ECS tasks stopped by the worker or Spot'),
    ];

    // A service below its desired count for 5 minutes: tasks crash, fail their health check, or cannot
    // start (image, secret, capacity). Container Insights publishes both counts per service.
    const serviceDown = (name: string, service: ecs.FargateService) =>
      alarm(`${name}TasksBelowDesired`, serviceDownAlarm(name, props.servicesCluster, service));
    const workerDown = serviceDown('Worker', props.workerService);
    const ingressDown = serviceDown('Ingress', props.ingressService);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: [this.deadLetterAlarm, ageAlarm, workerDown, ingressDown],
        width: 24,
        height: 3,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Notifications waiting / in flight',
        left: [
          props.queue.metricApproximateNumberOfMessagesVisible({ label: 'waiting' }),
          props.queue.metricApproximateNumberOfMessagesNotVisible({ label: 'in flight (workflows)' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({ title: 'Oldest notification (s)', left: [oldestAge], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Dead letters', left: [dlqDepth], right: [dlqArrivals], width: 8 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Worker CPU / memory (%)',
        left: [props.workerService.metricCpuUtilization(), props.workerService.metricMemoryUtilization()],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Ingress CPU / memory (%)',
        left: [props.ingressService.metricCpuUtilization(), props.ingressService.metricMemoryUtilization()],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Processor runs failed / stopped',
        left: processorFailures,
        width: 8,
      }),
    );
    // The worker's own metrics, which its telemetry collector sends (infra/lib/telemetry.ts).
    for (const row of telemetryWidgets({ ...props, cluster: props.servicesCluster })) {
      this.dashboard.addWidgets(...row);
    }
  }
}

/** The alarm of a service running fewer tasks than desired (`name`: Worker or Ingress), from Container Insights. */
function serviceDownAlarm(
  name: string,
  cluster: ecs.ICluster,
  service: ecs.FargateService,
): cloudwatch.AlarmProps {
  const count = (metricName: string) =>
    new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName,
      dimensionsMap: { ClusterName: cluster.clusterName, ServiceName: service.serviceName },
      statistic: 'Average',
      period: Duration.minutes(1),
    });
  return {
    alarmDescription: `The ${name.toLowerCase()} service runs fewer tasks than desired for 5 minutes: its tasks are restarting (crash, failed health check) or cannot start. See the service's events and the ${name.toLowerCase()} log group.`,
    metric: new cloudwatch.MathExpression({
      expression: 'desired - running',
      usingMetrics: { desired: count('DesiredTaskCount'), running: count('RunningTaskCount') },
      period: Duration.minutes(1),
      label: `${name.toLowerCase()} tasks missing`,
    }),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 5,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  };
}
