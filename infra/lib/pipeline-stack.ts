/** The whole pipeline in one stack: storage, table, queue, network, processor compute, services, observability. */
import { CfnOutput, CfnResource, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { DEFAULTS } from '../../contract/defaults';
import { skipCheckov } from './checks';
import { ProcessorCompute } from './compute';
import { PipelineLogs } from './logging';
import { PipelineNetwork } from './network';
import { Observability } from './observability';
import { maxMessageAge } from './paging';
import { OperatorConsole } from './operator-console';
import { Orchestration, SCHEDULE_TO_START_TARGET } from './orchestration';
import { PipelineQueue } from './queue';
import { resolveSettings, type PipelineSettings, type ResolvedSettings } from './settings';
import { PipelineStorage } from './buckets';
import { PipelineTable } from './table';

/** Retention of every log group (processes, processor runs, VPC flow logs). */
export const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;
/** The visibility timeout of the queue, and the workflows' VISIBILITY_TIMEOUT_SECONDS. */
export const VISIBILITY_TIMEOUT = Duration.seconds(DEFAULTS.visibilityTimeoutSeconds);
/** Longest processor run (COMPUTE_TIMEOUT_SECONDS); the Batch job timeout is a little longer. */
export const COMPUTE_TIMEOUT = Duration.seconds(DEFAULTS.computeTimeoutSeconds);

const CDK_HANDLER =
  'A CDK-provided deploy-time custom resource handler, which CloudFormation invokes a few times per deployment and waits on';
const CDK_HANDLER_SKIPS = {
  CKV_AWS_115: `${CDK_HANDLER}: no concurrency to bound.`,
  CKV_AWS_116: `${CDK_HANDLER}: CloudFormation gets its failures, a dead-letter queue would get nothing.`,
  CKV_AWS_117: `${CDK_HANDLER}: it calls only the S3 and EC2 APIs, and holds no data a VPC would protect.`,
};

/** Props of {@link PipelineStack}: the usual stack props plus the deployment's parameters. */
export interface PipelineStackProps extends StackProps {
  /**
   * Parameters; each one left out comes from CDK context, then its default.
   * @default - context, then {@link DEFAULT_SETTINGS}
   */
  readonly settings?: PipelineSettings;
}

/**
 * S3 input bucket → SQS → ingress → Temporal worker → AWS Batch (Fargate Spot) or ECS Fargate processor →
 * S3 output bucket. Environment-agnostic (no account or region lookups), so it synthesizes offline.
 */
export class PipelineStack extends Stack {
  readonly settings: ResolvedSettings;
  readonly logs: PipelineLogs;
  readonly storage: PipelineStorage;
  readonly table: PipelineTable;
  readonly queue: PipelineQueue;
  readonly network: PipelineNetwork;
  readonly compute: ProcessorCompute;
  readonly orchestration: Orchestration;
  readonly observability: Observability;
  /** Only with the `console` context, which configures its authentication. */
  readonly operatorConsole?: OperatorConsole;

  constructor(scope: Construct, id: string, props: PipelineStackProps = {}) {
    super(scope, id, props);
    // The app runs without a cdk.json, so the stack opts into today's behaviour of the feature flags it
    // depends on: access-log delivery through a bucket policy (not ACLs, which BucketOwnerEnforced forbids).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    this.settings = resolveSettings(this.node, props.settings ?? {});
    const s = this.settings;
    const output = (name: string, value: string, description: string) =>
      new CfnOutput(this, name, { value, description });

    this.logs = new PipelineLogs(this, 'Logs', { retention: LOG_RETENTION });
    this.queue = new PipelineQueue(this, 'Queue', { visibilityTimeout: VISIBILITY_TIMEOUT });
    this.storage = new PipelineStorage(this, 'Storage', { notificationQueue: this.queue.queue });
    this.table = new PipelineTable(this, 'Rows');
    this.network = new PipelineNetwork(this, 'Network', {
      natGateways: s.natGateways,
      logs: this.logs,
    });
    const subnets = this.network.privateSubnets;
    const images = s.imageTag ? { repositoryPrefix: s.imageRepositoryPrefix, tag: s.imageTag } : undefined;
    this.compute = new ProcessorCompute(this, 'Processor', {
      vpc: this.network.vpc,
      subnets,
      inputBucket: this.storage.inputBucket,
      outputBucket: this.storage.outputBucket,
      table: this.table.table,
      computeTimeout: COMPUTE_TIMEOUT,
      logs: this.logs,
      batchMaxVcpus: s.batchMaxVcpus,
      ...(images ? { images } : {}),
    });
    this.orchestration = new Orchestration(this, 'Services', {
      vpc: this.network.vpc,
      subnets,
      queue: this.queue.queue,
      deadLetterQueue: this.queue.deadLetterQueue,
      inputBucket: this.storage.inputBucket,
      outputBucket: this.storage.outputBucket,
      table: this.table.table,
      compute: this.compute,
      logs: this.logs,
      temporalSecretName: s.temporalSecretName,
      temporalApiKey: s.temporalApiKey,
      temporalPort: s.temporalPort,
      taskQueue: s.taskQueue,
      visibilityTimeout: VISIBILITY_TIMEOUT,
      computeTimeout: COMPUTE_TIMEOUT,
      ecsCapacityProvider: s.ecsCapacityProvider,
      workerMaxTasks: s.workerMaxTasks,
      ingressMaxTasks: s.ingressMaxTasks,
      inlineMaxBytes: s.inlineMaxBytes,
      ...(images ? { images } : {}),
    });
    if (s.console) {
      this.operatorConsole = new OperatorConsole(this, 'Console', {
        settings: s.console,
        vpc: this.network.vpc,
        orchestration: this.orchestration,
        queue: this.queue.queue,
        deadLetterQueue: this.queue.deadLetterQueue,
        inputBucket: this.storage.inputBucket,
        outputBucket: this.storage.outputBucket,
        compute: this.compute,
        accessLogsBucket: this.storage.accessLogsBucket,
        taskQueue: s.taskQueue,
        temporalPort: s.temporalPort,
      });
      // The Upload page posts each file from the browser straight to the input bucket.
      this.storage.inputBucket.addCorsRule({
        allowedOrigins: [this.operatorConsole.url],
        allowedMethods: [s3.HttpMethods.POST],
        maxAge: 3600,
      });
      output(
        'ConsoleUrl',
        this.operatorConsole.url,
        "The operator's console (point its DNS name at ConsoleLoadBalancerDns)",
      );
      output(
        'ConsoleLoadBalancerDns',
        this.operatorConsole.loadBalancer.loadBalancerDnsName,
        'CNAME or alias target of the console',
      );
    }
    this.observability = new Observability(this, 'Observability', {
      queue: this.queue.queue,
      deadLetterQueue: this.queue.deadLetterQueue,
      compute: this.compute,
      servicesCluster: this.orchestration.cluster,
      workerService: this.orchestration.workerService,
      ingressService: this.orchestration.ingressService,
      taskQueue: s.taskQueue,
      scheduleToStartTarget: SCHEDULE_TO_START_TARGET,
      // Every run a file may get, and a margin: a healthy file's message is held (invisible) that long.
      maxMessageAge: maxMessageAge(COMPUTE_TIMEOUT),
      ...(s.alarmEmail ? { alarmEmail: s.alarmEmail } : {}),
    });

    output('InputBucketName', this.storage.inputBucket.bucketName, 'Upload files here');
    output(
      'OutputBucketName',
      this.storage.outputBucket.bucketName,
      'Outputs (outputs/…) and failure reports',
    );
    output('TableName', this.table.table.tableName, 'Rows of the csv-to-dynamodb job');
    output('QueueUrl', this.queue.queue.queueUrl, 'Notifications of the input bucket');
    output('DeadLetterQueueUrl', this.queue.deadLetterQueue.queueUrl, 'Permanently failed notifications');
    output('AlarmTopicArn', this.observability.alarmTopic.topicArn, 'Subscribe a pager or people: alarms');
    output(
      'EventsTopicArn',
      this.observability.eventsTopic.topicArn,
      'Processor stops the pipeline recovers from (worker stops, Spot reclaims): not for a pager',
    );
    output('DashboardName', this.observability.dashboard.dashboardName, 'CloudWatch dashboard');

    // The only Lambda functions are CDK's deploy-time custom resource handlers (the input bucket's
    // notification configuration, the default security group's rules): the stack does not configure them.
    for (const fn of this.node.findAll()) {
      if (CfnResource.isCfnResource(fn) && fn.cfnResourceType === 'AWS::Lambda::Function') {
        skipCheckov(fn, CDK_HANDLER_SKIPS);
      }
    }
    // The CDK-provided Lambda function that writes the input bucket's notification configuration during
    // deployments (a custom resource): the stack does not configure it.
    const notificationsHandler = this.node.tryFindChild(
      'BucketNotificationsHandler050a0587b7544547bf325f094a3db834',
    );
    if (notificationsHandler) {
      NagSuppressions.addResourceSuppressions(
        notificationsHandler,
        [
          {
            id: 'AwsSolutions-IAM4',
            reason:
              'CDK-provided custom resource that writes the bucket notification configuration at deploy time; its role uses AWSLambdaBasicExecutionRole for its own logs only.',
            appliesTo: [
              'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
            ],
          },
        ],
        true,
      );
    }
  }
}
