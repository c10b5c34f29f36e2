/**
 * Alarms and events to one SNS topic, and a dashboard. What each alarm means and what to do about it is in
 * infra/README.md.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { accountArn } from './arns';
import type { ProcessorCompute } from './compute';

/** Props of {@link Observability}. */
export interface ObservabilityProps {
  /** The notification queue: depth and age of its oldest message. */
  readonly queue: sqs.IQueue;
  /** Alarmed as soon as it holds a message. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Its job queue's FAILED jobs are reported. */
  readonly compute: ProcessorCompute;
  /** The services cluster and its services. */
  readonly servicesCluster: ecs.ICluster;
  readonly workerService: ecs.FargateService;
  readonly ingressService: ecs.FargateService;
  /** A message older than this is stuck (alarm on the queue's oldest message). */
  readonly maxMessageAge: Duration;
  /**
   * E-mail address subscribed to the alarm topic.
   * @default - none
   */
  readonly alarmEmail?: string;
}

/** The alarm topic, the alarms and failure events sent to it, and the dashboard. */
export class Observability extends Construct {
  /** Where every alarm and failure event goes; subscribe people or a pager to it. */
  readonly alarmTopic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  /** Batch jobs of the processor job queue that ended FAILED. */
  readonly batchFailureRule: events.Rule;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.alarmTopic = this.createAlarmTopic(props.alarmEmail);
    const notify = new cwActions.SnsAction(this.alarmTopic);
    const alarm = (name: string, alarmProps: cloudwatch.AlarmProps) => {
      const created = new cloudwatch.Alarm(this, name, alarmProps);
      created.addAlarmAction(notify);
      return created;
    };

    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(1),
      statistic: 'Maximum',
    });
    const dlqAlarm = alarm('DeadLetterQueueNotEmpty', {
      alarmDescription:
        'Messages are in the dead-letter queue: files failed permanently (attributes failure-type, failure-reason, workflow-id) or the ingress could not use them (failure-type UnusableMessage, ForeignBucket).',
      metric: dlqDepth,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const oldestAge = props.queue.metricApproximateAgeOfOldestMessage({
      period: Duration.minutes(5),
      statistic: 'Maximum',
    });
    const ageAlarm = alarm('OldestMessageTooOld', {
      alarmDescription: `A notification has been in the queue for more than ${props.maxMessageAge.toHumanString()}: the ingress is not handing messages over, or a workflow is stuck without acknowledging.`,
      metric: oldestAge,
      threshold: props.maxMessageAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.batchFailureRule = this.reportBatchFailures(props.compute);
    const batchFailures = new cloudwatch.Metric({
      namespace: 'AWS/Events',
      metricName: 'TriggeredRules',
      dimensionsMap: { RuleName: this.batchFailureRule.ruleName },
      statistic: 'Sum',
      period: Duration.minutes(5),
      label: 'failed Batch jobs',
    });

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
        alarms: [dlqAlarm, ageAlarm, workerDown, ingressDown],
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
      new cloudwatch.GraphWidget({ title: 'Dead letters', left: [dlqDepth], width: 8 }),
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
      new cloudwatch.GraphWidget({ title: 'Failed Batch jobs', left: [batchFailures], width: 8 }),
    );
  }

  /**
   * The alarm topic, with a customer-managed key: CloudWatch cannot publish to a topic encrypted with the
   * AWS-managed SNS key, whose policy cannot be changed. Only this account's alarms may use it through SNS (the
   * confused-deputy conditions); EventBridge publishes with a role of its own, which the key grants like any
   * principal.
   */
  private createAlarmTopic(alarmEmail: string | undefined): sns.Topic {
    const fromThisAccountsAlarms = {
      StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
      ArnLike: { 'aws:SourceArn': accountArn(this, 'cloudwatch', 'alarm:*') },
    };
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the file pipeline alarm topic',
      enableKeyRotation: true,
    });
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsEncryptForTheTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: fromThisAccountsAlarms,
      }),
    );
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'File pipeline alarms',
      masterKey: topicKey,
      enforceSSL: true,
    });
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: fromThisAccountsAlarms,
      }),
    );
    if (alarmEmail) {
      topic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
    }
    return topic;
  }

  /**
   * Every failed processor job, as an event with its reason to the alarm topic: permanent input errors (exit
   * 65/66, see contract/failures.ts), Spot reclaims, and jobs terminated after waiting too long for capacity
   * (rerouted to ECS).
   */
  private reportBatchFailures(compute: ProcessorCompute): events.Rule {
    const rule = new events.Rule(this, 'BatchJobFailed', {
      description: 'A processor job of the pipeline job queue ended FAILED',
      eventPattern: {
        source: ['aws.batch'],
        detailType: ['Batch Job State Change'],
        detail: { status: ['FAILED'], jobQueue: [compute.jobQueue.jobQueueArn] },
      },
    });
    rule.addTarget(
      new targets.SnsTopic(this.alarmTopic, {
        // A role (sns:Publish and the key, nothing else) rather than a topic-policy grant to the service.
        authorizeUsingRole: true,
        message: events.RuleTargetInput.fromText(
          `Batch job ${events.EventField.fromPath('$.detail.jobName')} (${events.EventField.fromPath(
            '$.detail.jobId',
          )}) FAILED: ${events.EventField.fromPath('$.detail.statusReason')}`,
        ),
      }),
    );
    NagSuppressions.addResourceSuppressions(
      rule,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The role EventBridge publishes to the alarm topic with: grantPublish on a KMS-encrypted topic gives kms:GenerateDataKey* on that one key, as SNS requires of a publisher.',
          appliesTo: ['Action::kms:GenerateDataKey*'],
        },
      ],
      true,
    );
    return rule;
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
