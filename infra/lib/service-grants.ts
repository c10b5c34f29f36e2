/**
 * The task-role permissions of the services, the worker's by AWS service: each statement names the
 * resources of this stack that the process's code calls.
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { JOB_TAGS } from '../../contract/jobs';
import {
  FAILURE_REPORTS_PREFIX,
  OUTPUTS_PREFIX,
  REJECTS_PREFIX,
  REPORTS_PREFIX,
  STAGING_PREFIX,
  UPLOADS_PREFIX,
} from '../../contract/layout';
import { accountArn } from './arns';
import type { ProcessorCompute } from './compute';

/**
 * Where the worker writes in the output bucket (activities/objects.ts and staging.ts): reports, the chunk
 * plan in staging, and the outputs and rejects it assembles from chunk parts. All but reports are where the
 * processor writes too, which the worker is granted for its inline runs (ProcessorCompute.grantProcessorCalls).
 */
const WORKER_ONLY_WRITE_PREFIXES = [REPORTS_PREFIX] as const;
/**
 * Where the worker reads in the output bucket: outputs to verify, the plan, parts and statistics of chunks, and
 * reports: a failure report before removing it, and a day's per-file and failure reports for the daily report.
 */
const WORKER_READ_PREFIXES = [OUTPUTS_PREFIX, STAGING_PREFIX, REPORTS_PREFIX] as const;
/** What the console reads and lets a browser download from the output bucket: what a file's page links to. */
const CONSOLE_READ_PREFIXES = [OUTPUTS_PREFIX, REJECTS_PREFIX, REPORTS_PREFIX] as const;

/** The resources of the stack the worker and the ingress call. */
export interface GrantedResources {
  /** The notification queue. */
  readonly queue: sqs.IQueue;
  /** Where either process moves a message it will never process. */
  readonly deadLetterQueue: sqs.IQueue;
  readonly inputBucket: s3.IBucket;
  readonly outputBucket: s3.IBucket;
  /** The Batch and ECS resources the worker submits processor runs to. */
  readonly compute: ProcessorCompute;
}

/**
 * The worker's permissions, one statement per concern, each naming the resources of this stack. See
 * activities/{objects,queue,batch-backend,ecs-backend}.ts for the calls.
 */
export function grantWorker(role: iam.Role, resources: GrantedResources): void {
  grantWorkerS3(role, resources);
  // Acknowledge (delete), extend and release (change visibility), read the redrive policy; a permanent
  // failure moves the message to the dead-letter queue named by the redrive policy.
  grantQueues(role, resources, {
    sid: 'AcknowledgeNotifications',
    actions: [
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
    ],
    deadLetterSid: 'DeadLetterFailures',
  });
  grantProcessorJobs(role, resources.compute);
  grantProcessorTasks(role, resources.compute);
  suppressWorkerWildcards(role);
}

/**
 * The ingress's permissions. What ingress/ingress.ts and main.ts send: ReceiveMessage; DeleteMessage
 * (s3:TestEvent, already processed, split, dead-lettered); SendMessageBatch, authorised as sqs:SendMessage
 * (the split); ChangeMessageVisibility to 0 (messages in hand when Temporal is unreachable go back at once);
 * GetQueueAttributes at start-up (the redrive policy names the dead-letter queue).
 */
export function grantIngress(role: iam.Role, resources: GrantedResources): void {
  // Unusable messages and other buckets' notifications go to the dead-letter queue at once, with the reason.
  grantQueues(role, resources, {
    sid: 'HandOverNotifications',
    actions: [
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:SendMessage',
      'sqs:ChangeMessageVisibility',
      'sqs:GetQueueAttributes',
    ],
    deadLetterSid: 'DeadLetterUnusableNotifications',
  });
}

/**
 * The console's permissions (console/): it reads what a file's page shows and downloads, signs uploads under
 * `uploads/`, and works the dead-letter queue. What it asks Temporal is no AWS call.
 */
export function grantConsole(
  role: iam.Role,
  { queue, deadLetterQueue, inputBucket, outputBucket }: GrantedResources,
): void {
  // Its presigned GETs act with its own credentials: outputs, rejects and reports, and the report it reads
  // itself. ListBucket makes a missing one a 404, as for every reader of the stack.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadOutputsRejectsAndReports',
      actions: ['s3:GetObject'],
      resources: CONSOLE_READ_PREFIXES.map((prefix) => outputBucket.arnForObjects(`${prefix}*`)),
    }),
  );
  // The presigned POST of the Upload page writes with the console's credentials, under uploads/ only (its
  // policy fixes the key); HeadObject of an upload finds the version the page links to.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'SignUploadsAndFindThem',
      actions: ['s3:PutObject', 's3:GetObject'],
      resources: [inputBucket.arnForObjects(`${UPLOADS_PREFIX}*`)],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'SeeMissingObjects',
      actions: ['s3:ListBucket'],
      resources: [inputBucket.bucketArn, outputBucket.bucketArn],
    }),
  );
  // Find it (GetQueueUrl of the name the redrive policy gives), peek (receive, then release), delete, and send
  // back: SQS's move task, which needs the receive, delete and attribute reads on its source, or
  // receive-send-delete.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'WorkDeadLetters',
      actions: [
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:StartMessageMoveTask',
        'sqs:ListMessageMoveTasks',
      ],
      resources: [deadLetterQueue.queueArn],
    }),
  );
  // The redrive policy names the dead-letter queue; sent-back messages arrive here.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'SendBackNotifications',
      actions: ['sqs:GetQueueAttributes', 'sqs:SendMessage'],
      resources: [queue.queueArn],
    }),
  );
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          "Object ARNs with a key wildcard: a file's outputs, rejects and reports are named after its key, and an upload after the browser's file, under uploads/ only (the presigned POST's policy fixes each key).",
        appliesTo: [
          { regex: '/^Resource::<.*Input.*\\.Arn>\\/uploads\\/\\*$/' },
          { regex: '/^Resource::<.*Output.*\\.Arn>\\/(reports|outputs|rejects)\\/\\*$/' },
        ],
      },
    ],
    true,
  );
}

/**
 * The worker's S3 calls: the processor's, for inline runs, and its own beyond them (activities/objects.ts,
 * staging.ts, output-bucket.ts, reports.ts and reprocess.ts).
 */
function grantWorkerS3(role: iam.Role, { compute, inputBucket, outputBucket }: GrantedResources): void {
  // Inline runs: the processor's own code on the worker's threads (activities/inline-backend.ts), making
  // the processor's S3 calls with the worker's credentials. The same statements as the processor's task
  // role (ReadInputs, SeeMissingInputs, WriteOutputs, CopyOutputOntoItself), from the same helper. They
  // also cover the worker's own calls on those objects: HeadObject and GetObject of the notified input
  // version (inspecting, planning chunks), HeadBucket of a notified bucket, and the multipart upload of a
  // chunked file's output and rejects; the statements below add only what the worker does beyond them. The
  // table's BatchWriteItem is among them too: an inline csv-to-dynamodb run loads its rows itself.
  compute.grantProcessorCalls(role);
  // HeadObject of outputs to verify them, GetObject and HeadObject of chunk plans, parts and statistics,
  // UploadPartCopy from parts, the failure report of an earlier run, the reports the daily report sums.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadOutputsStagingAndReports',
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: WORKER_READ_PREFIXES.map((prefix) => outputBucket.arnForObjects(`${prefix}*`)),
    }),
  );
  // ListObjectsV2 of a file's staging folder, and of a day's reports and the failure reports
  // (activities/daily-report.ts); without s3:ListBucket a missing object is a 403 instead of the 404 that
  // makes "object gone" a permanent failure (the input bucket's is among the processor's calls).
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ListStagingAndSeeMissingOutputs',
      actions: ['s3:ListBucket'],
      resources: [outputBucket.bucketArn],
    }),
  );
  // ListObjectVersions of a reprocess run (activities/reprocess.ts): the latest version of each input under a
  // prefix, by its versionId, as the notifications name it.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ListInputVersionsToReprocess',
      actions: ['s3:ListBucketVersions'],
      resources: [inputBucket.bucketArn],
    }),
  );
  // Reports, per file, per failure and per day (reports/daily/); outputs, rejects and staging are among the
  // processor's writes: the plan, and the outputs of chunked files, a multipart upload of the parts aborted
  // when an attempt is retried.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'WriteReports',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: WORKER_ONLY_WRITE_PREFIXES.map((prefix) => outputBucket.arnForObjects(`${prefix}*`)),
    }),
  );
  // Staging parts are deleted once the output is verified, a failure report once the version succeeds.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'DeleteStagingAndResolvedFailureReports',
      actions: ['s3:DeleteObject'],
      resources: [STAGING_PREFIX, FAILURE_REPORTS_PREFIX].map((prefix) =>
        outputBucket.arnForObjects(`${prefix}*`),
      ),
    }),
  );
}

/**
 * Batch: submit to this job queue with this job definition only (SubmitJob also names the new job, whose ID
 * nobody knows before). Jobs carry the tags of JOB_TAGS, set on submit, which Batch authorizes as a tagging of
 * the job and of its definition (batch:TagResource has no create-action condition key): only those keys, with
 * this job queue as the pipeline:job-queue tag. TerminateJob is limited by that tag to the jobs this pipeline
 * submitted. DescribeJobs has no resource-level permission.
 */
function grantProcessorJobs(role: iam.Role, compute: ProcessorCompute): void {
  const jobs = accountArn(role, 'batch', 'job/*');
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'SubmitProcessorJobs',
      actions: ['batch:SubmitJob'],
      resources: [compute.jobQueue.jobQueueArn, compute.jobDefinition.jobDefinitionArn, jobs],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'TagProcessorJobsOnSubmit',
      actions: ['batch:TagResource'],
      resources: [jobs, compute.jobDefinition.jobDefinitionArn],
      conditions: {
        'ForAllValues:StringEquals': { 'aws:TagKeys': Object.values(JOB_TAGS) },
        StringEquals: { [`aws:RequestTag/${JOB_TAGS.jobQueue}`]: compute.jobQueue.jobQueueArn },
      },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'TerminateProcessorJobs',
      actions: ['batch:TerminateJob'],
      resources: [jobs],
      conditions: {
        StringEquals: { [`aws:ResourceTag/${JOB_TAGS.jobQueue}`]: compute.jobQueue.jobQueueArn },
      },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'DescribeProcessorJobs',
      actions: ['batch:DescribeJobs'],
      resources: ['*'],
    }),
  );
}

/** ECS: run this task definition in the processor cluster only; stop and describe that cluster's tasks. */
function grantProcessorTasks(role: iam.Role, compute: ProcessorCompute): void {
  const clusterTasks = accountArn(role, 'ecs', `task/${compute.cluster.clusterName}/*`);
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'RunProcessorTasks',
      actions: ['ecs:RunTask'],
      resources: [compute.taskDefinition.taskDefinitionArn],
      conditions: { ArnEquals: { 'ecs:cluster': compute.cluster.clusterArn } },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'TagProcessorTasksOnRun',
      actions: ['ecs:TagResource'],
      resources: [clusterTasks],
      conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'WatchAndStopProcessorTasks',
      actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
      resources: [clusterTasks],
    }),
  );
  // RunTask hands the task definition's two roles to ECS: only those, only to ECS tasks.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'PassProcessorRoles',
      actions: ['iam:PassRole'],
      resources: [compute.taskRole.roleArn, compute.executionRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
  );
}

/** The cdk-nag findings on the worker's wildcards (S3 object keys, Batch jobs, ECS tasks), with the reasons. */
function suppressWorkerWildcards(role: iam.Role): void {
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Object ARNs with a key wildcard: any key of the input bucket may be a file to process, and what the worker reads and writes in the output bucket is named after it, under reports/, staging/, outputs/ and rejects/ (deletes under staging/ and reports/failures/ only).',
        appliesTo: [
          { regex: '/^Resource::<.*Input.*\\.Arn>\\/\\*$/' },
          {
            regex:
              '/^Resource::<.*Output.*\\.Arn>\\/(reports|reports\\/failures|staging|outputs|rejects)\\/\\*$/',
          },
        ],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'batch:DescribeJobs has no resource-level permission; SubmitJob, tag-on-submit and TerminateJob act on jobs, whose ARNs carry only an ID generated on submit (job/*), tagging only with the pipeline tag keys and terminating only jobs tagged with this job queue; DescribeTasks/StopTask/tag-on-run are limited to the processor cluster (task/CLUSTER/*).',
        appliesTo: [
          'Resource::*',
          'Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job/*',
          {
            regex:
              '/^Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task\\/<.*Cluster.*>\\/\\*$/',
          },
        ],
      },
    ],
    true,
  );
}

/**
 * A process's two queue statements: `actions` on the notification queue, and on the dead-letter queue the
 * calls that move a message there itself (SendMessage, and GetQueueUrl of the queue the redrive policy names).
 */
function grantQueues(
  role: iam.Role,
  resources: GrantedResources,
  queue: { sid: string; actions: string[]; deadLetterSid: string },
): void {
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: queue.sid,
      actions: queue.actions,
      resources: [resources.queue.queueArn],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: queue.deadLetterSid,
      actions: ['sqs:SendMessage', 'sqs:GetQueueUrl'],
      resources: [resources.deadLetterQueue.queueArn],
    }),
  );
}
