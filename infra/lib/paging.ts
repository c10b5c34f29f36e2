/**
 * Who gets told what: the paging topic (alarms, and processor runs that failed on their own) and the events
 * topic (processor runs stopped by something the pipeline expects and recovers from: the worker's own
 * TerminateJob/StopTask, Spot reclaims, which Temporal retries). infra/README.md lists each alarm and rule.
 */
import { Annotations, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { DEFAULTS } from '../../contract/defaults';
import { WORKER_STOP_REASON_PREFIX } from '../../contract/stop-reasons';
import { accountArn } from './arns';
import { PROCESSOR_CONTAINER, type ProcessorCompute } from './compute';

/**
 * The stop reasons of a processor run that page nobody (EventBridge wildcards, matched against a Batch job's
 * `statusReason` and an ECS task's `stoppedReason`):
 * - the worker's own stops, by the prefix it gives every one (contract/stop-reasons.ts): a Batch job that
 *   waited too long for capacity (the file is rerouted to ECS), a run whose workflow was cancelled;
 * - a Fargate Spot reclaim, "Your Spot Task was interrupted." (the ECS stoppedReason, which AWS Batch on
 *   Fargate Spot reports as the job's statusReason), and on EC2 Spot "Host EC2 (instance i-…) terminated."
 *   (AWS Batch's statusReason, the one its SPOT_INSTANCE_RECLAIMED retry strategy matches on).
 * The activity fails with the run, and Temporal runs the file again; a file that never succeeds ends in the
 * dead-letter queue, whose alarm pages.
 */
export const EXPECTED_STOP_REASONS = [
  `${WORKER_STOP_REASON_PREFIX}*`,
  '*Spot Task was interrupted*',
  'Host EC2*terminated*',
] as const;

/**
 * How long a notification may stay in the queue. The worker keeps extending the visibility of a file's
 * message for as long as its workflow runs, and ApproximateAgeOfOldestMessage counts from the upload, so a
 * healthy file's message is as old as its runs: up to `attempts` runs of at most `computeTimeout` each. The
 * margin covers the retries' backoff, one wait for Batch capacity before the reroute to ECS
 * (BATCH_RUNNABLE_TIMEOUT_SECONDS, 15 minutes) and the hand-over. Older than that, no run can be holding it:
 * the ingress is not handing messages over, or a workflow is stuck. A split CSV whose chunks together run
 * longer (thousands of chunks) can still trip it; its workflow in the Temporal UI then shows its progress.
 */
export function maxMessageAge(
  computeTimeout: Duration,
  attempts: number = DEFAULTS.computeRetry.maximumAttempts,
): Duration {
  return Duration.seconds(computeTimeout.toSeconds() * attempts + Duration.hours(1).toSeconds());
}

/** The two topics of {@link createTopics}. */
export interface Topics {
  /** Alarms and failures someone must look at: subscribe people or a pager to it. */
  readonly alarmTopic: sns.Topic;
  /** Processor stops the pipeline recovers from by itself: for a log or a chat channel, not a pager. */
  readonly eventsTopic: sns.Topic;
}

/**
 * Both topics, with one customer-managed key: CloudWatch cannot publish to a topic encrypted with the
 * AWS-managed SNS key, whose policy cannot be changed. Only this account's alarms may use it through SNS (the
 * confused-deputy conditions); EventBridge publishes with a role of its own, which the key grants like any
 * principal. Without `alarmEmail` the stack warns at synth and deploy that nobody is subscribed.
 */
export function createTopics(scope: Construct, alarmEmail: string | undefined): Topics {
  const fromThisAccountsAlarms = {
    StringEquals: { 'aws:SourceAccount': Stack.of(scope).account },
    ArnLike: { 'aws:SourceArn': accountArn(scope, 'cloudwatch', 'alarm:*') },
  };
  const topicKey = new kms.Key(scope, 'AlarmTopicKey', {
    description: 'Encrypts the file pipeline alarm and events topics',
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
  const alarmTopic = new sns.Topic(scope, 'AlarmTopic', {
    displayName: 'File pipeline alarms',
    masterKey: topicKey,
    enforceSSL: true,
  });
  alarmTopic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [alarmTopic.topicArn],
      conditions: fromThisAccountsAlarms,
    }),
  );
  if (alarmEmail) {
    alarmTopic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
  } else {
    Annotations.of(Stack.of(scope)).addWarningV2(
      'file-pipeline:alarm-topic-unsubscribed',
      'The alarm topic has no subscriber, so alarms page nobody: deploy with -c alarmEmail=you@example.com, or subscribe your pager to the AlarmTopicArn output right after the deploy (infra/README.md, Deploy).',
    );
  }
  const eventsTopic = new sns.Topic(scope, 'EventsTopic', {
    displayName: 'File pipeline processor stops it recovers from',
    masterKey: topicKey,
    enforceSSL: true,
  });
  return { alarmTopic, eventsTopic };
}

/**
 * A stop reason that pages: none of {@link EXPECTED_STOP_REASONS}, or no reason at all (`anything-but`
 * matches only a field that is there).
 */
function unexpectedReason(field: string): Record<string, unknown> {
  return {
    $or: [
      { [field]: events.Match.anythingButWildcard(...EXPECTED_STOP_REASONS) },
      { [field]: events.Match.doesNotExist() },
    ],
  };
}

/** A stop reason the pipeline recovers from: one of {@link EXPECTED_STOP_REASONS}. */
function expectedReason(): string[] {
  return events.Match.anyOf(...EXPECTED_STOP_REASONS.map((w) => events.Match.wildcard(w)));
}

/** A rule sending `message` to `topic`, with a role of its own (sns:Publish and the key, nothing else). */
function ruleTo(
  scope: Construct,
  id: string,
  topic: sns.ITopic,
  props: events.RuleProps,
  message: string,
): events.Rule {
  const rule = new events.Rule(scope, id, props);
  rule.addTarget(
    new targets.SnsTopic(topic, {
      authorizeUsingRole: true,
      message: events.RuleTargetInput.fromText(message),
    }),
  );
  NagSuppressions.addResourceSuppressions(
    rule,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'The role EventBridge publishes to an SNS topic with: grantPublish on a KMS-encrypted topic gives kms:GenerateDataKey* on that one key, as SNS requires of a publisher.',
        appliesTo: ['Action::kms:GenerateDataKey*'],
      },
    ],
    true,
  );
  return rule;
}

const field = (path: string) => events.EventField.fromPath(path);

/** The rules of {@link reportProcessorFailures}. */
export interface ProcessorFailureRules {
  /** A Batch job of the processor job queue FAILED for a reason of its own: pages. */
  readonly batchFailed: events.Rule;
  /** A Batch job stopped by the worker or a Spot reclaim: to the events topic. */
  readonly batchStoppedAsExpected: events.Rule;
  /** An ECS processor task whose processor container exited non-zero for a reason of its own: pages. */
  readonly ecsFailed: events.Rule;
  /** An ECS processor task stopped by the worker or a Spot interruption: to the events topic. */
  readonly ecsStoppedAsExpected: events.Rule;
}

/**
 * Failed processor runs, on both routes, each as one message naming the run and why it stopped. A Batch job
 * state change event's `detail` is the job's DescribeJobs detail (`status`, `jobQueue`, `statusReason`,
 * `jobName`, `jobId`); an ECS task state change event's is the task's (`clusterArn`, `lastStatus`,
 * `stoppedReason`, `stopCode`, `containers[]` with `name` and `exitCode`). EventBridge matches the fields
 * of one array element together, so `name` and `exitCode` below are the processor container's own.
 */
export function reportProcessorFailures(
  scope: Construct,
  compute: ProcessorCompute,
  topics: Topics,
): ProcessorFailureRules {
  const batchJob = { source: ['aws.batch'], detailType: ['Batch Job State Change'] };
  const failedJob = { status: ['FAILED'], jobQueue: [compute.jobQueue.jobQueueArn] };
  const jobText = `Batch job ${field('$.detail.jobName')} (${field('$.detail.jobId')}) FAILED: ${field(
    '$.detail.statusReason',
  )}`;
  const batchFailed = ruleTo(
    scope,
    'BatchJobFailed',
    topics.alarmTopic,
    {
      description: 'A processor job of the pipeline job queue FAILED, not stopped by the worker or Spot',
      eventPattern: { ...batchJob, detail: { ...failedJob, ...unexpectedReason('statusReason') } },
    },
    jobText,
  );
  const batchStoppedAsExpected = ruleTo(
    scope,
    'BatchJobStoppedAsExpected',
    topics.eventsTopic,
    {
      description:
        'A processor job stopped by the worker (reroute, cancel) or reclaimed by Spot; Temporal retries',
      eventPattern: { ...batchJob, detail: { ...failedJob, statusReason: expectedReason() } },
    },
    `${jobText} (no page: the worker stopped it, or Spot reclaimed it, and Temporal carries on)`,
  );

  const ecsTask = { source: ['aws.ecs'], detailType: ['ECS Task State Change'] };
  const stoppedTask = { clusterArn: [compute.cluster.clusterArn], lastStatus: ['STOPPED'] };
  const taskText = `ECS processor task ${field('$.detail.taskArn')} STOPPED: container ${PROCESSOR_CONTAINER} exit code ${field(
    '$.detail.containers[0].exitCode',
  )}, stopped reason: ${field('$.detail.stoppedReason')} (stop code ${field('$.detail.stopCode')})`;
  const ecsFailed = ruleTo(
    scope,
    'ProcessorTaskFailed',
    topics.alarmTopic,
    {
      description: 'A processor ECS task stopped with a non-zero exit of its processor container',
      eventPattern: {
        ...ecsTask,
        detail: {
          ...stoppedTask,
          containers: { name: [PROCESSOR_CONTAINER], exitCode: events.Match.anythingBut(0) },
          ...unexpectedReason('stoppedReason'),
        },
      },
    },
    taskText,
  );
  const ecsStoppedAsExpected = ruleTo(
    scope,
    'ProcessorTaskStoppedAsExpected',
    topics.eventsTopic,
    {
      description: 'A processor ECS task stopped by the worker (cancel) or by a Spot interruption',
      eventPattern: { ...ecsTask, detail: { ...stoppedTask, stoppedReason: expectedReason() } },
    },
    `${taskText} (no page: the worker stopped it, or Spot interrupted it, and Temporal carries on)`,
  );
  return { batchFailed, batchStoppedAsExpected, ecsFailed, ecsStoppedAsExpected };
}
