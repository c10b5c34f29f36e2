/**
 * The IAM side of the permission proof (test/proof/permissions.test.ts):
 *
 * - what IAM authorizes for each AWS call the pipeline's processes make, as the Service Authorization
 *   Reference lists it (actions, resource ARNs, condition keys), including the authorizations a call implies
 *   (a source read for a copy, tag-on-create, passing the task definition's roles);
 * - the roles and resource policies of the synthesized CDK template, with its resources bound to the names
 *   of the local stack the calls were recorded on;
 * - the evaluation, offline, by @cloud-copilot/iam-simulate (AGPL-3.0: a test-only devDependency, never
 *   shipped), which also checks each action, resource type and condition key against the reference.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { RecordedCall } from '../../common/aws';
import type { PipelineStack } from '../../infra/lib/pipeline-stack';

/** The account and region moto plays, and so the ones the template is resolved into. */
export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
const PARTITION = 'aws';

/** One authorization IAM makes for a call. */
export interface IamRequest {
  action: string;
  /** The resource's ARN, or `*` for an action without resource types. */
  resource: string;
  context: Record<string, string | string[]>;
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

type Json = Record<string, unknown>;

/** The calls recorded under `dir` (one file per process). */
export function readRecordedCalls(dir: string): RecordedCall[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as RecordedCall),
    );
}

// ---- ARNs -------------------------------------------------------------------------------------------------

const arn = (service: string, resource: string, region = REGION) =>
  `arn:${PARTITION}:${service}:${region}:${ACCOUNT}:${resource}`;
const objectArn = (bucket: string, key: string) => `arn:${PARTITION}:s3:::${bucket}/${key}`;
const bucketArn = (bucket: string) => `arn:${PARTITION}:s3:::${bucket}`;
/** `https://host/ACCOUNT/NAME` → the queue's ARN. */
function queueArn(url: string, region: string): string {
  const [account, name] = new URL(url).pathname.split('/').filter(Boolean);
  if (!account || !name) throw new Error(`not a queue URL: ${url}`);
  return `arn:${PARTITION}:sqs:${region}:${account}:${name}`;
}
const isArn = (s: string) => s.startsWith('arn:');
const jobQueueArn = (q: string, region: string) => (isArn(q) ? q : arn('batch', `job-queue/${q}`, region));
const jobDefinitionArn = (d: string, region: string) =>
  isArn(d) ? d : arn('batch', `job-definition/${d}`, region);
const clusterArn = (c: string, region: string) => (isArn(c) ? c : arn('ecs', `cluster/${c}`, region));
const clusterName = (c: string) => c.split('/').pop()!;
const taskDefinitionArn = (t: string, region: string) =>
  isArn(t) ? t : arn('ecs', `task-definition/${t}`, region);
const taskArn = (t: string, cluster: string, region: string) =>
  isArn(t) ? t : arn('ecs', `task/${clusterName(cluster)}/${t}`, region);
const tableArn = (name: string, region = REGION) => arn('dynamodb', `table/${name}`, region);

/** `bucket/key?versionId=…` of CopyObject and UploadPartCopy, each part URL-encoded. */
function copySource(source: string): { bucket: string; key: string; versionId?: string } {
  const [path, query] = source.replace(/^\//, '').split('?');
  const slash = path!.indexOf('/');
  const versionId = new URLSearchParams(query ?? '').get('versionId') ?? undefined;
  return {
    bucket: decodeURIComponent(path!.slice(0, slash)),
    key: decodeURIComponent(path!.slice(slash + 1)),
    ...(versionId ? { versionId } : {}),
  };
}

const tagContext = (tags: Record<string, string>) => ({
  'aws:TagKeys': Object.keys(tags),
  ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
});

// ---- calls → authorizations ---------------------------------------------------------------------------------

/** What the mapping needs to know beyond the call itself. */
export interface CallContext {
  /** The bucket of the deployment a local bucket plays (a test may have several input buckets). */
  bucket(name: string): string;
  /** The table of the deployment a local table plays. */
  table(name: string): string;
  /** The tags a job was submitted with (a later call on it is authorized against them). */
  jobTags(jobId: string): Record<string, string> | undefined;
  /** The role ARNs a task definition hands to ECS, as the template defines them. */
  taskDefinitionRoles(taskDefinitionArn: string): string[];
}

type Mapping = (input: Json, call: RecordedCall, ctx: CallContext) => IamRequest[];
const request = (action: string, resource: string, context: IamRequest['context'] = {}): IamRequest => ({
  action,
  resource,
  context,
});
const str = (input: Json, name: string): string => {
  const value = input[name];
  if (typeof value !== 'string') throw new Error(`recorded input has no ${name}`);
  return value;
};

/** A read of one object (version): a missing one answers 404 only with s3:ListBucket, 403 without it. */
function objectRead(ctx: CallContext, bucket: string, key: string, versionId: unknown): IamRequest[] {
  const b = ctx.bucket(bucket);
  return [
    request(typeof versionId === 'string' ? 's3:GetObjectVersion' : 's3:GetObject', objectArn(b, key)),
    // The code tells a missing object (permanent) from a transient failure by the 404.
    request('s3:ListBucket', bucketArn(b)),
  ];
}
const objectWrite = (ctx: CallContext, input: Json) =>
  request('s3:PutObject', objectArn(ctx.bucket(str(input, 'Bucket')), str(input, 'Key')));
function copyRead(ctx: CallContext, input: Json): IamRequest {
  const source = copySource(str(input, 'CopySource'));
  return request(
    source.versionId ? 's3:GetObjectVersion' : 's3:GetObject',
    objectArn(ctx.bucket(source.bucket), source.key),
  );
}

/**
 * Per client and command, the authorizations IAM makes (Service Authorization Reference: "Actions, resources
 * and condition keys" of Amazon S3, SQS, AWS Batch, Amazon ECS and Amazon DynamoDB). A command missing here
 * fails the proof.
 */
const MAPPINGS: Record<string, Record<string, Mapping>> = {
  S3Client: {
    GetObjectCommand: (i, _c, ctx) => objectRead(ctx, str(i, 'Bucket'), str(i, 'Key'), i.VersionId),
    HeadObjectCommand: (i, _c, ctx) => objectRead(ctx, str(i, 'Bucket'), str(i, 'Key'), i.VersionId),
    HeadBucketCommand: (i, _c, ctx) => [request('s3:ListBucket', bucketArn(ctx.bucket(str(i, 'Bucket'))))],
    ListObjectsV2Command: (i, _c, ctx) => [
      request('s3:ListBucket', bucketArn(ctx.bucket(str(i, 'Bucket'))), {
        ...(typeof i.Prefix === 'string' ? { 's3:prefix': i.Prefix } : {}),
      }),
    ],
    ListObjectVersionsCommand: (i, _c, ctx) => [
      request('s3:ListBucketVersions', bucketArn(ctx.bucket(str(i, 'Bucket'))), {
        ...(typeof i.Prefix === 'string' ? { 's3:prefix': i.Prefix } : {}),
      }),
    ],
    PutObjectCommand: (i, _c, ctx) => [objectWrite(ctx, i)],
    // The parts of a multipart upload are authorized as writes of the object. Every multipart upload the code
    // starts is aborted if it fails (lib-storage with leavePartsOnError: false, mergeParts' catch), a path the
    // tests take for the processor only: the abort is asked for wherever an upload starts.
    CreateMultipartUploadCommand: (i, _c, ctx) => [
      objectWrite(ctx, i),
      request('s3:AbortMultipartUpload', objectArn(ctx.bucket(str(i, 'Bucket')), str(i, 'Key'))),
    ],
    UploadPartCommand: (i, _c, ctx) => [objectWrite(ctx, i)],
    CompleteMultipartUploadCommand: (i, _c, ctx) => [objectWrite(ctx, i)],
    AbortMultipartUploadCommand: (i, _c, ctx) => [
      request('s3:AbortMultipartUpload', objectArn(ctx.bucket(str(i, 'Bucket')), str(i, 'Key'))),
    ],
    // A copy reads its source and writes its target, even when both are the same object.
    CopyObjectCommand: (i, _c, ctx) => [copyRead(ctx, i), objectWrite(ctx, i)],
    UploadPartCopyCommand: (i, _c, ctx) => [copyRead(ctx, i), objectWrite(ctx, i)],
    DeleteObjectCommand: (i, _c, ctx) => [
      request(
        typeof i.VersionId === 'string' ? 's3:DeleteObjectVersion' : 's3:DeleteObject',
        objectArn(ctx.bucket(str(i, 'Bucket')), str(i, 'Key')),
      ),
    ],
    DeleteObjectsCommand: (i, _c, ctx) => {
      const bucket = ctx.bucket(str(i, 'Bucket'));
      const objects = ((i.Delete as Json | undefined)?.Objects ?? []) as Json[];
      return objects.map((o) =>
        request(
          typeof o.VersionId === 'string' ? 's3:DeleteObjectVersion' : 's3:DeleteObject',
          objectArn(bucket, str(o, 'Key')),
        ),
      );
    },
  },
  SQSClient: {
    ReceiveMessageCommand: (i, c) => [request('sqs:ReceiveMessage', queueArn(str(i, 'QueueUrl'), c.region))],
    DeleteMessageCommand: (i, c) => [request('sqs:DeleteMessage', queueArn(str(i, 'QueueUrl'), c.region))],
    // A batch call is authorized as its single action.
    DeleteMessageBatchCommand: (i, c) => [
      request('sqs:DeleteMessage', queueArn(str(i, 'QueueUrl'), c.region)),
    ],
    ChangeMessageVisibilityCommand: (i, c) => [
      request('sqs:ChangeMessageVisibility', queueArn(str(i, 'QueueUrl'), c.region)),
    ],
    ChangeMessageVisibilityBatchCommand: (i, c) => [
      request('sqs:ChangeMessageVisibility', queueArn(str(i, 'QueueUrl'), c.region)),
    ],
    SendMessageCommand: (i, c) => [request('sqs:SendMessage', queueArn(str(i, 'QueueUrl'), c.region))],
    SendMessageBatchCommand: (i, c) => [request('sqs:SendMessage', queueArn(str(i, 'QueueUrl'), c.region))],
    GetQueueAttributesCommand: (i, c) => [
      request('sqs:GetQueueAttributes', queueArn(str(i, 'QueueUrl'), c.region)),
    ],
    // A move task receives, deletes and reads attributes on its source (the dead-letter queue) as the caller,
    // and sends to its destination (SQS Developer Guide, "Configuring queue permissions for dead-letter queue
    // redrive").
    StartMessageMoveTaskCommand: (i) => [
      ...[
        'sqs:StartMessageMoveTask',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
      ].map((action) => request(action, str(i, 'SourceArn'))),
      ...(typeof i.DestinationArn === 'string' ? [request('sqs:SendMessage', i.DestinationArn)] : []),
    ],
    ListMessageMoveTasksCommand: (i) => [request('sqs:ListMessageMoveTasks', str(i, 'SourceArn'))],
    GetQueueUrlCommand: (i, c) => {
      const account = typeof i.QueueOwnerAWSAccountId === 'string' ? i.QueueOwnerAWSAccountId : ACCOUNT;
      return [
        request('sqs:GetQueueUrl', `arn:${PARTITION}:sqs:${c.region}:${account}:${str(i, 'QueueName')}`),
      ];
    },
  },
  BatchClient: {
    SubmitJobCommand: (i, c) => {
      const tags = (i.tags ?? {}) as Record<string, string>;
      const jobId = c.output?.jobId ?? 'submitted';
      const definition = jobDefinitionArn(str(i, 'jobDefinition'), c.region);
      const job = arn('batch', `job/${jobId}`, c.region);
      return [
        // The reference lists the new job as a required resource of SubmitJob, beside queue and definition.
        request('batch:SubmitJob', jobQueueArn(str(i, 'jobQueue'), c.region)),
        request('batch:SubmitJob', definition),
        request('batch:SubmitJob', job),
        // Tags given on submit are authorized as a tagging of the new job, and Batch checks the job definition
        // too (an AccessDenied for batch:TagResource on job-definition/NAME:REV from SubmitJob: wri/gfw-data-api#175).
        ...(Object.keys(tags).length > 0
          ? [job, definition].map((resource) => request('batch:TagResource', resource, tagContext(tags)))
          : []),
      ];
    },
    DescribeJobsCommand: () => [request('batch:DescribeJobs', '*')],
    TerminateJobCommand: (i, c, ctx) => {
      const jobId = str(i, 'jobId');
      const tags = ctx.jobTags(jobId) ?? {};
      return [
        request(
          'batch:TerminateJob',
          arn('batch', `job/${jobId}`, c.region),
          Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v])),
        ),
      ];
    },
  },
  ECSClient: {
    RunTaskCommand: (i, c, ctx) => {
      const cluster = clusterArn(str(i, 'cluster'), c.region);
      const taskDefinition = taskDefinitionArn(str(i, 'taskDefinition'), c.region);
      const tags = Object.fromEntries(
        ((i.tags ?? []) as { key: string; value: string }[]).map((t) => [t.key, t.value]),
      );
      const strategy = (i.capacityProviderStrategy ?? []) as { capacityProvider: string }[];
      return [
        request('ecs:RunTask', taskDefinition, {
          'ecs:cluster': cluster,
          ...(strategy.length > 0
            ? { 'ecs:capacity-provider': strategy.map((s) => s.capacityProvider) }
            : {}),
        }),
        ...(Object.keys(tags).length > 0
          ? [
              request('ecs:TagResource', arn('ecs', `task/${clusterName(cluster)}/new`, c.region), {
                'ecs:CreateAction': 'RunTask',
                ...tagContext(tags),
              }),
            ]
          : []),
        // RunTask hands the task definition's roles to ECS.
        ...ctx
          .taskDefinitionRoles(taskDefinition)
          .map((role) => request('iam:PassRole', role, { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' })),
      ];
    },
    DescribeTasksCommand: (i, c) => {
      const cluster = clusterArn(str(i, 'cluster'), c.region);
      return ((i.tasks ?? []) as string[]).map((t) =>
        request('ecs:DescribeTasks', taskArn(t, cluster, c.region), { 'ecs:cluster': cluster }),
      );
    },
    StopTaskCommand: (i, c) => {
      const cluster = clusterArn(str(i, 'cluster'), c.region);
      return [
        request('ecs:StopTask', taskArn(str(i, 'task'), cluster, c.region), { 'ecs:cluster': cluster }),
      ];
    },
  },
  DynamoDBClient: {
    // dynamodb:BatchWriteItem on each table of RequestItems (resource type table, required), puts and deletes
    // alike. The writer names tables by name (DYNAMODB_TABLE); an ARN would be no table of the deployment.
    BatchWriteItemCommand: (i, c, ctx) =>
      Object.keys((i.RequestItems ?? {}) as Json).map((table) =>
        request('dynamodb:BatchWriteItem', tableArn(ctx.table(table), c.region)),
      ),
  },
};

/** Commands whose authorizations are asked for with another command's (see CreateMultipartUploadCommand). */
export const IMPLIED_BY: Record<string, string> = {
  AbortMultipartUploadCommand: 'CreateMultipartUploadCommand',
};

/** The authorizations of one recorded call. @throws for a command this module does not know. */
export function iamRequestsOf(call: RecordedCall, ctx: CallContext): IamRequest[] {
  const mapping = MAPPINGS[call.client]?.[call.command];
  if (!mapping) {
    throw new Error(
      `${call.component} sent ${call.client}.${call.command}, which test/support/iam.ts cannot map to IAM actions: ` +
        'add it from the Service Authorization Reference',
    );
  }
  return mapping(call.input, call, ctx);
}

// ---- the template, resolved into the local account --------------------------------------------------------------

interface Bound {
  ref: string;
  attributes: Record<string, string>;
}

interface Resource {
  Type: string;
  Properties?: Json;
}

/** A policy document with every CloudFormation intrinsic resolved. */
type PolicyDocument = { Version?: string; Statement: Json[] };

/**
 * The stack's template with its resources bound to the local names the calls were recorded against: the
 * buckets, queues and table of scripts/stack.ts, the compute resources of test/support/aws-compute.ts, and a role
 * ARN for every role.
 */
export class TemplateIam {
  private readonly resources: Record<string, Resource>;
  private readonly bound = new Map<string, Bound>();
  private readonly identityCache = new Map<string, { name: string; policy: PolicyDocument }[]>();
  private resourcePolicies?: { covers: (resource: string) => boolean; policy: PolicyDocument }[];

  constructor(
    private readonly stack: PipelineStack,
    template: Json,
  ) {
    this.resources = template.Resources as Record<string, Resource>;
    for (const [id, r] of Object.entries(this.resources)) {
      if (r.Type === 'AWS::IAM::Role') {
        this.bound.set(id, { ref: id, attributes: { Arn: `arn:${PARTITION}:iam::${ACCOUNT}:role/${id}` } });
      }
    }
  }

  logicalId(construct: IConstruct): string {
    return this.stack.getLogicalId(construct.node.defaultChild as CfnElement);
  }

  /** Binds a construct of the stack to the value of its `Ref` and attributes in the local account. */
  bind(construct: IConstruct, ref: string, attributes: Record<string, string> = {}): void {
    this.bound.set(this.logicalId(construct), { ref, attributes });
  }

  bindBucket(construct: IConstruct, name: string): void {
    this.bind(construct, name, { Arn: bucketArn(name) });
  }

  bindTable(construct: IConstruct, name: string): void {
    this.bind(construct, name, { Arn: tableArn(name) });
  }

  bindQueue(construct: IConstruct, name: string): void {
    const queue = arn('sqs', name);
    this.bind(construct, `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`, {
      Arn: queue,
      QueueName: name,
    });
  }

  /** `value` with Ref, Fn::GetAtt, Fn::Join, Fn::Select and Fn::Split resolved; unbound names stay unmatchable. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const o = value as Json;
    if (typeof o.Ref === 'string') return this.ref(o.Ref);
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [id, attribute] = o['Fn::GetAtt'] as [string, string];
      return this.bound.get(id)?.attributes[attribute] ?? `unbound:${id}.${attribute}`;
    }
    if (Array.isArray(o['Fn::Join'])) {
      const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
      return (this.resolve(parts) as unknown[]).join(separator);
    }
    if (Array.isArray(o['Fn::Select'])) {
      const [index, list] = o['Fn::Select'] as [number, unknown];
      return (this.resolve(list) as unknown[])[Number(index)];
    }
    if (Array.isArray(o['Fn::Split'])) {
      const [separator, text] = o['Fn::Split'] as [string, unknown];
      return String(this.resolve(text)).split(separator);
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, this.resolve(v)]));
  }

  private ref(id: string): string {
    const pseudo: Record<string, string> = {
      'AWS::Partition': PARTITION,
      'AWS::Region': REGION,
      'AWS::AccountId': ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    return pseudo[id] ?? this.bound.get(id)?.ref ?? `unbound:${id}`;
  }

  roleArn(role: IConstruct): string {
    return this.bound.get(this.logicalId(role))!.attributes.Arn!;
  }

  /**
   * The identity policies of a role: its inline policies and the AWS::IAM::Policy resources attached to it,
   * resolved once per role (bind everything first).
   */
  private identityPolicies(role: IConstruct): { name: string; policy: PolicyDocument }[] {
    const id = this.logicalId(role);
    const known = this.identityCache.get(id);
    if (known) return known;
    const props = this.resources[id]?.Properties ?? {};
    if (props.ManagedPolicyArns) throw new Error(`${id} has managed policies, which the proof cannot read`);
    const inline = ((props.Policies ?? []) as { PolicyName: string; PolicyDocument: unknown }[]).map((p) => ({
      name: p.PolicyName,
      policy: this.resolve(p.PolicyDocument) as PolicyDocument,
    }));
    const attached = Object.entries(this.resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Policy')
      .filter(([, r]) => ((r.Properties?.Roles ?? []) as Json[]).some((x) => x.Ref === id))
      .map(([policyId, r]) => ({
        name: policyId,
        policy: this.resolve(r.Properties!.PolicyDocument) as PolicyDocument,
      }));
    const policies = [...inline, ...attached];
    this.identityCache.set(id, policies);
    return policies;
  }

  /** The bucket policy or queue policy that governs `resource`, if any (resolved once, bind everything first). */
  private resourcePolicy(resource: string): PolicyDocument | undefined {
    this.resourcePolicies ??= Object.values(this.resources).flatMap((r) => {
      const policy = () => this.resolve(r.Properties!.PolicyDocument) as PolicyDocument;
      if (r.Type === 'AWS::S3::BucketPolicy') {
        const bucket = bucketArn(String(this.resolve(r.Properties!.Bucket)));
        return [{ covers: (x: string) => x === bucket || x.startsWith(`${bucket}/`), policy: policy() }];
      }
      if (r.Type === 'AWS::SQS::QueuePolicy') {
        const queues = (r.Properties!.Queues as Json[]).map((q) =>
          typeof q.Ref === 'string' ? this.bound.get(q.Ref)?.attributes.Arn : undefined,
        );
        return [{ covers: (x: string) => queues.includes(x), policy: policy() }];
      }
      return [];
    });
    return this.resourcePolicies.find((p) => p.covers(resource))?.policy;
  }

  /** The task role and execution role ARNs of the ECS task definition bound to `taskDefinitionArn`. */
  taskDefinitionRoles(taskDefinitionArn: string): string[] {
    const found = Object.entries(this.resources).find(
      ([id, r]) => r.Type === 'AWS::ECS::TaskDefinition' && this.bound.get(id)?.ref === taskDefinitionArn,
    );
    if (!found) throw new Error(`task definition ${taskDefinitionArn} is not bound to one of the template`);
    const props = found[1].Properties!;
    return [props.TaskRoleArn, props.ExecutionRoleArn].filter(Boolean).map((v) => String(this.resolve(v)));
  }

  /** What IAM decides for `role` making `req`: its identity policies and the resource's policy, over TLS. */
  async decide(role: IConstruct, req: IamRequest): Promise<Decision> {
    const principal = this.roleArn(role);
    const resourcePolicy = this.resourcePolicy(req.resource);
    const result = await runSimulation(
      {
        request: {
          principal,
          action: req.action,
          resource: { resource: req.resource, accountId: ACCOUNT },
          contextVariables: {
            'aws:SecureTransport': 'true',
            'aws:PrincipalArn': principal,
            'aws:PrincipalAccount': ACCOUNT,
            ...req.context,
          },
        },
        identityPolicies: this.identityPolicies(role),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(resourcePolicy ? { resourcePolicy } : {}),
      },
      {},
    );
    if (result.resultType === 'error') {
      throw new Error(
        `iam-simulate refused ${req.action} on ${req.resource}: ${JSON.stringify(result.errors)}`,
      );
    }
    return result.overallResult;
  }
}
