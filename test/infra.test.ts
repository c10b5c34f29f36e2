/**
 * The CDK app (infra/), synthesized once offline: the security properties of the template, the least
 * privilege of each role, the processes' configuration against common/config.ts, cdk-nag's AwsSolutions
 * pack with no unsuppressed finding, cfn-lint with no error and checkov with no failed check.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { App, Aspects, type CfnElement } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { EnvName } from '../common/config';
import { PROCESSOR_COMMAND, PROCESSOR_CONTAINER } from '../infra/lib/compute';
import { DEFAULTS } from '../contract/defaults';
import { workerStopReason } from '../contract/stop-reasons';
import { maxMessageAge } from '../infra/lib/paging';
import { CONSOLE_HEALTHCHECK, INGRESS_HEALTHCHECK, WORKER_HEALTHCHECK } from '../infra/lib/healthchecks';
import { CONSOLE_PORT } from '../infra/lib/operator-console';
import { CONTAINER_USER } from '../infra/lib/images';
import { SCHEDULE_TO_START_TARGET } from '../infra/lib/orchestration';
import {
  ADOT_IMAGE,
  COLLECTOR_CONTAINER,
  COLLECTOR_USER,
  HISTOGRAMS,
  JOB_DIMENSION,
  METRICS_NAMESPACE,
  WORKER_METRICS_ADDRESS,
  XRAY_ACTIONS,
} from '../infra/lib/telemetry';
import { COMPUTE_TIMEOUT, PipelineStack } from '../infra/lib/pipeline-stack';
import { environmentProblems, type ProcessName } from '../infra/lib/process-contract';
import { MAX_RECEIVE_COUNT } from '../infra/lib/queue';
import { resolveSettings } from '../infra/lib/settings';
import { tableKeyOf } from '../processors/dynamodb-items';
import { loadSchema } from '../common/schema';
import { cfnLint, checkov } from './support/scanners';
import { OIDC_CONSOLE } from './support/console-settings';

interface Statement {
  Effect: string;
  Principal?: { Service?: unknown; AWS?: unknown } | string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
interface PolicyResource {
  Properties: { PolicyDocument: { Statement: Statement[] } };
}
interface ContainerDefinition {
  Name: string;
  Environment?: { Name: string; Value: unknown }[];
  Secrets?: { Name: string; ValueFrom: unknown }[];
  StopTimeout?: number;
  HealthCheck?: { Command: string[] };
}

/**
 * A string of the template as text, its references written `{Ref:ID}` and `{GetAtt:ID.Attribute}`: a value the
 * CDK built with Stack.toJsonString or a dashboard body, read back with JSON.parse.
 */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as { 'Fn::Join'?: [string, unknown[]]; Ref?: string; 'Fn::GetAtt'?: string[] };
  if (v['Fn::Join']) return v['Fn::Join'][1].map(flatten).join(v['Fn::Join'][0]);
  if (v.Ref) return `{Ref:${v.Ref}}`;
  if (v['Fn::GetAtt']) return `{GetAtt:${v['Fn::GetAtt'].join('.')}}`;
  throw new Error(`not a string of the template: ${JSON.stringify(value)}`);
}

/** Shared by every test: one synthesis (with cdk-nag) per run of this file. */
let world: { stack: PipelineStack; template: Template; outdir: string };

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
/** Whether `value` matches `pattern` (Match.objectLike semantics). */
const matches = (pattern: Record<string, unknown>, value: unknown) =>
  !Match.objectLike(pattern).test(value).hasFailed();

describe('infra: the CDK app', () => {
  before(() => {
    const outdir = mkdtempSync(join(tmpdir(), 'cdk-test-'));
    const app = new App({ outdir });
    // With the console, configured as an operator would: every check below covers it too.
    const stack = new PipelineStack(app, 'FilePipeline', { settings: { console: OIDC_CONSOLE } });
    Aspects.of(app).add(new AwsSolutionsChecks());
    world = { stack, template: Template.fromStack(stack), outdir };
  });
  after(() => rmSync(world.outdir, { recursive: true, force: true }));

  const id = (construct: IConstruct) => world.stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const ref = (construct: IConstruct) => ({ Ref: id(construct) });
  const arn = (construct: IConstruct, attribute = 'Arn') => ({ 'Fn::GetAtt': [id(construct), attribute] });
  /** The synthesized properties of a resource, by logical ID or by its construct. */
  function propertiesOf<T>(resource: IConstruct | string): T {
    const resources = world.template.toJSON().Resources as Record<string, { Properties: T }>;
    const found = resources[typeof resource === 'string' ? resource : id(resource)];
    assert.ok(found, 'resource in the template');
    return found.Properties;
  }

  /** Every statement of the inline policies attached to `role`. */
  function statementsOf(role: IConstruct): Statement[] {
    const policies = world.template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: Match.arrayWith([ref(role)]) },
    });
    return (Object.values(policies) as PolicyResource[]).flatMap(
      (p: PolicyResource) => p.Properties.PolicyDocument.Statement,
    );
  }

  function containerOf(taskDefinition: IConstruct, name: string): ContainerDefinition {
    const props = propertiesOf<{ ContainerDefinitions: ContainerDefinition[] }>(taskDefinition);
    const container = props.ContainerDefinitions.find((c) => c.Name === name);
    assert.ok(container, `container ${name}`);
    return container;
  }

  describe('storage', () => {
    it('encrypts both buckets, blocks public access and enforces SSL', () => {
      const { inputBucket, outputBucket } = world.stack.storage;
      for (const bucket of [inputBucket, outputBucket]) {
        world.template.hasResource('AWS::S3::Bucket', {
          Properties: Match.objectLike({
            BucketEncryption: {
              ServerSideEncryptionConfiguration: [
                { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
              ],
            },
            PublicAccessBlockConfiguration: {
              BlockPublicAcls: true,
              BlockPublicPolicy: true,
              IgnorePublicAcls: true,
              RestrictPublicBuckets: true,
            },
          }),
          UpdateReplacePolicy: 'Retain',
          DeletionPolicy: 'Retain',
        });
        world.template.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: ref(bucket),
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Action: 's3:*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
            ]),
          },
        });
      }
    });

    it('versions the input bucket and notifies the queue of every created object', () => {
      const { inputBucket } = world.stack.storage;
      assert.deepEqual(
        propertiesOf<{ VersioningConfiguration: unknown }>(inputBucket).VersioningConfiguration,
        { Status: 'Enabled' },
      );
      world.template.hasResourceProperties('Custom::S3BucketNotifications', {
        BucketName: ref(inputBucket),
        NotificationConfiguration: {
          QueueConfigurations: [{ Events: ['s3:ObjectCreated:*'], QueueArn: arn(world.stack.queue.queue) }],
        },
      });
    });

    it('archives outputs to Glacier after 30 days and expires staging/ after a day', () => {
      const { outputBucket } = world.stack.storage;
      const rules = propertiesOf<{ LifecycleConfiguration: { Rules: Record<string, unknown>[] } }>(
        outputBucket,
      ).LifecycleConfiguration.Rules;
      assert.ok(
        rules.some((r) =>
          matches({ Status: 'Enabled', Transitions: [{ StorageClass: 'GLACIER', TransitionInDays: 30 }] }, r),
        ),
        'a Glacier transition after 30 days',
      );
      world.template.hasResourceProperties('AWS::S3::Bucket', {
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({ Prefix: 'staging/', ExpirationInDays: 1, Status: 'Enabled' }),
          ]),
        },
      });
    });
  });

  describe('table', () => {
    it('keys the table as the job\u2019s items, on demand, recoverable, encrypted, protected from deletion and retained', () => {
      const { partitionKey, sortKey } = tableKeyOf(loadSchema(undefined));
      const keys = [
        { attribute: partitionKey, keyType: 'HASH' },
        ...(sortKey ? [{ attribute: sortKey, keyType: 'RANGE' }] : []),
      ];
      world.template.hasResource('AWS::DynamoDB::Table', {
        Properties: Match.objectLike({
          KeySchema: keys.map((k) => ({ AttributeName: k.attribute.name, KeyType: k.keyType })),
          AttributeDefinitions: keys.map((k) => ({
            AttributeName: k.attribute.name,
            AttributeType: k.attribute.type,
          })),
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          // The AWS-managed key: encrypted with KMS, and no key of the stack's named.
          SSESpecification: Match.exact({ SSEEnabled: true }),
          DeletionProtectionEnabled: true,
        }),
        UpdateReplacePolicy: 'Retain',
        DeletionPolicy: 'Retain',
      });
      world.template.hasOutput('TableName', { Value: ref(world.stack.table.table) });
    });
  });

  describe('queue', () => {
    it('encrypts both queues, enforces SSL, and dead-letters after 5 receives', () => {
      const { queue, deadLetterQueue } = world.stack.queue;
      world.template.hasResourceProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        VisibilityTimeout: 300,
        RedrivePolicy: { deadLetterTargetArn: arn(deadLetterQueue), maxReceiveCount: MAX_RECEIVE_COUNT },
      });
      assert.equal(MAX_RECEIVE_COUNT, 5);
      world.template.hasResourceProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 14 * 24 * 3600,
      });
      for (const q of [queue, deadLetterQueue]) {
        world.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [ref(q)],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
      }
    });
  });

  describe('compute', () => {
    it('runs Batch jobs on Fargate Spot with an on-demand fallback in the same job queue', () => {
      world.template.hasResourceProperties('AWS::Batch::ComputeEnvironment', {
        Type: 'managed',
        ComputeResources: Match.objectLike({ Type: 'FARGATE_SPOT' }),
      });
      world.template.hasResourceProperties('AWS::Batch::JobQueue', {
        ComputeEnvironmentOrder: [
          { Order: 1, ComputeEnvironment: Match.anyValue() },
          { Order: 2, ComputeEnvironment: Match.anyValue() },
        ],
      });
      const order = propertiesOf<{
        ComputeEnvironmentOrder: { ComputeEnvironment: { 'Fn::GetAtt': [string, string] } }[];
      }>(world.stack.compute.jobQueue).ComputeEnvironmentOrder.map(
        (e) =>
          propertiesOf<{ ComputeResources: { Type: string } }>(e.ComputeEnvironment['Fn::GetAtt'][0])
            .ComputeResources.Type,
      );
      assert.deepEqual(order, ['FARGATE_SPOT', 'FARGATE']);
    });

    it('defines the processor job: Fargate, the processor entrypoint, awslogs, the processor roles', () => {
      const { compute } = world.stack;
      world.template.hasResourceProperties('AWS::Batch::JobDefinition', {
        PlatformCapabilities: ['FARGATE'],
        ContainerProperties: Match.objectLike({
          Command: PROCESSOR_COMMAND,
          JobRoleArn: arn(compute.taskRole),
          ExecutionRoleArn: arn(compute.executionRole),
          NetworkConfiguration: { AssignPublicIp: 'DISABLED' },
          LogConfiguration: Match.objectLike({
            LogDriver: 'awslogs',
            Options: Match.objectLike({ 'awslogs-group': ref(compute.logGroup) }),
          }),
        }),
      });
    });

    it('has an ECS cluster with FARGATE and FARGATE_SPOT and the processor task definition', () => {
      const { compute } = world.stack;
      world.template.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
        Cluster: ref(compute.cluster),
        CapacityProviders: Match.arrayWith(['FARGATE', 'FARGATE_SPOT']),
      });
      world.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        RequiresCompatibilities: ['FARGATE'],
        TaskRoleArn: arn(compute.taskRole),
        ExecutionRoleArn: arn(compute.executionRole),
        ContainerDefinitions: [
          Match.objectLike({
            Name: PROCESSOR_CONTAINER,
            Command: PROCESSOR_COMMAND,
            LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          }),
        ],
      });
      assert.equal(PROCESSOR_CONTAINER, 'processor');
    });
  });

  describe('containers', () => {
    it('runs every ECS container read-only, as the images\u2019 unprivileged user, with no capability and an init', () => {
      const definitions = Object.values(world.template.findResources('AWS::ECS::TaskDefinition')) as {
        Properties: { ContainerDefinitions: Record<string, unknown>[] };
      }[];
      const containers = definitions.flatMap((d) => d.Properties.ContainerDefinitions);
      assert.equal(
        containers.length,
        6,
        'processor, worker and ingress each with its telemetry collector, console',
      );
      for (const c of containers) {
        // The collector is no image of ours: an unprivileged user of its own.
        const user = c.Name === COLLECTOR_CONTAINER ? COLLECTOR_USER : CONTAINER_USER;
        assert.ok(!/^(0|root)(:|$)/.test(user), `${String(c.Name)}: not root`);
        assert.ok(
          matches(
            {
              ReadonlyRootFilesystem: true,
              User: user,
              LinuxParameters: { InitProcessEnabled: true, Capabilities: { Drop: ['ALL'] } },
            },
            c,
          ),
          `container ${String(c.Name)}`,
        );
        assert.equal(c.Privileged, undefined);
      }
    });

    it('runs the Batch job read-only, as the unprivileged user, with an init (Batch cannot drop capabilities)', () => {
      world.template.hasResourceProperties('AWS::Batch::JobDefinition', {
        ContainerProperties: Match.objectLike({
          ReadonlyRootFilesystem: true,
          User: CONTAINER_USER,
          LinuxParameters: { InitProcessEnabled: true },
        }),
      });
    });

    it('runs the images CI pushed to ECR, tagged with the commit, with the imageTag context: nothing built', () => {
      const app = new App({ context: { imageTag: '0123abc', imageRepositoryPrefix: 'team/file-pipeline' } });
      const stack = new PipelineStack(app, 'FilePipeline', { settings: { console: OIDC_CONSOLE } });
      const template = Template.fromStack(stack).toJSON() as {
        Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      };
      const resources = Object.values(template.Resources);
      const imageOf = (name: string) => ({
        'Fn::Join': [
          '',
          [
            { Ref: 'AWS::AccountId' },
            '.dkr.ecr.',
            { Ref: 'AWS::Region' },
            '.',
            { Ref: 'AWS::URLSuffix' },
            `/team/file-pipeline/${name}:0123abc`,
          ],
        ],
      });
      const containers = resources
        .filter((r) => r.Type === 'AWS::ECS::TaskDefinition')
        .flatMap((r) => r.Properties.ContainerDefinitions as { Name: string; Image: unknown }[]);
      const images = containers.filter((c) => c.Name !== COLLECTOR_CONTAINER).map((c) => c.Image);
      // The telemetry collector's image is AWS's, pinned to a version.
      assert.deepEqual(
        containers.filter((c) => c.Name === COLLECTOR_CONTAINER).map((c) => c.Image),
        [ADOT_IMAGE, ADOT_IMAGE],
      );
      assert.deepEqual(
        new Set(images.map((i) => JSON.stringify(i))),
        new Set(['processor', 'worker', 'ingress', 'console'].map((n) => JSON.stringify(imageOf(n)))),
      );
      const job = resources.find((r) => r.Type === 'AWS::Batch::JobDefinition');
      assert.deepEqual(
        (job?.Properties.ContainerProperties as { Image: unknown }).Image,
        imageOf('processor'),
      );
      const assets = app.synth().getStackByName('FilePipeline').assets;
      assert.deepEqual(
        assets.filter((a) => a.packaging === 'container-image'),
        [],
        'no image for cdk deploy to build',
      );
      assert.throws(
        () => resolveSettings(new App({ context: { imageTag: 'a:b' } }).node, {}),
        /context imageTag="a:b" is invalid/,
      );
    });
  });

  describe('hardening', () => {
    it('strips the rules of the default security group', () => {
      world.template.hasResourceProperties('Custom::VpcRestrictDefaultSG', {
        DefaultSecurityGroupId: {
          'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkVpc'), 'DefaultSecurityGroup'],
        },
      });
    });

    it('sends the bulk traffic, files and rows, through the free S3 and DynamoDB gateway endpoints', () => {
      for (const service of ['s3', 'dynamodb']) {
        world.template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
          VpcEndpointType: 'Gateway',
          ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, `.${service}`]] },
          RouteTableIds: Match.arrayWith([
            Match.objectLike({ Ref: Match.stringLikeRegexp('privateSubnet') }),
          ]),
        });
      }
    });

    it('lets a service principal use a key or a topic only on behalf of this account (no confused deputy)', () => {
      const policies = [
        ...Object.values(world.template.findResources('AWS::KMS::Key')).map(
          (r) => (r as { Properties: { KeyPolicy: { Statement: Statement[] } } }).Properties.KeyPolicy,
        ),
        ...Object.values(world.template.findResources('AWS::SNS::TopicPolicy')).map(
          (r) =>
            (r as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument,
        ),
      ];
      const services = policies
        .flatMap((p) => p.Statement)
        .filter((s) => s.Effect === 'Allow' && typeof s.Principal === 'object' && s.Principal.Service);
      assert.ok(services.length >= 3, 'alarms on the key and the topic, CloudWatch Logs on its key');
      for (const s of services) {
        const keys = Object.values(s.Condition ?? {}).flatMap((c) => Object.keys(c));
        assert.ok(
          keys.includes('aws:SourceAccount') || keys.includes('kms:EncryptionContext:aws:logs:arn'),
          `${JSON.stringify(s.Principal)} ${JSON.stringify(s.Action)}: ${JSON.stringify(s.Condition)}`,
        );
      }
    });

    it('encrypts every log group with the stack\u2019s logs key', () => {
      const key = arn(world.stack.logs.key);
      for (const group of Object.values(world.template.findResources('AWS::Logs::LogGroup'))) {
        assert.deepEqual((group as { Properties: { KmsKeyId: unknown } }).Properties.KmsKeyId, key);
      }
    });

    it('creates each service only once its cluster\u2019s capacity providers are associated', () => {
      const { orchestration } = world.stack;
      const associations = Object.keys(
        world.template.findResources('AWS::ECS::ClusterCapacityProviderAssociations', {
          Properties: { Cluster: ref(orchestration.cluster) },
        }),
      );
      assert.equal(associations.length, 1);
      for (const service of [orchestration.workerService, orchestration.ingressService]) {
        const resource = (world.template.toJSON().Resources as Record<string, { DependsOn?: string[] }>)[
          id(service)
        ];
        assert.ok(
          resource?.DependsOn?.includes(associations[0]!),
          `${service.node.id} depends on ${associations[0]}`,
        );
      }
    });
  });

  describe('least privilege (the calls themselves are proven by test/proof/permissions.test.ts)', () => {
    const taskRoles = () => {
      const { compute, orchestration } = world.stack;
      return {
        processor: compute.taskRole,
        worker: orchestration.workerTaskRole,
        ingress: orchestration.ingressTaskRole,
        console: world.stack.operatorConsole!.taskRole,
      };
    };

    it('names every action of the task roles in full: no wildcard action such as s3:Get* or sqs:*', () => {
      for (const [name, role] of Object.entries(taskRoles())) {
        const wild = statementsOf(role)
          .flatMap(actionsOf)
          .filter((a) => a.includes('*'));
        assert.deepEqual(wild, [], `${name} task role`);
      }
    });

    // Neither batch:DescribeJobs nor the telemetry collector's X-Ray calls (PutTraceSegments,
    // PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support resource-level permissions (Service
    // Authorization Reference): "*" is the only resource they take.
    it('gives a task role Resource "*" only for batch:DescribeJobs and the collector\u2019s X-Ray calls, which have no resource-level permission', () => {
      for (const [name, role] of Object.entries(taskRoles())) {
        const any = statementsOf(role).filter(
          (s) => s.Resource === '*' || (Array.isArray(s.Resource) && s.Resource.includes('*')),
        );
        assert.deepEqual(
          any.map(actionsOf),
          { worker: [['batch:DescribeJobs'], XRAY_ACTIONS], ingress: [XRAY_ACTIONS] }[name] ?? [],
          `${name} task role`,
        );
      }
    });

    it('scopes iam:PassRole to the processor task and execution roles, passed to ECS tasks only', () => {
      const { compute, orchestration } = world.stack;
      world.template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [ref(orchestration.workerTaskRole)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Sid: 'PassProcessorRoles',
              Effect: 'Allow',
              Action: 'iam:PassRole',
              Resource: [arn(compute.taskRole), arn(compute.executionRole)],
              Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
            },
          ]),
        },
      });
      // No policy anywhere in the stack passes any role with a wildcard.
      const all = (
        Object.values(world.template.findResources('AWS::IAM::Policy')) as PolicyResource[]
      ).flatMap((p: PolicyResource) => p.Properties.PolicyDocument.Statement);
      const passes = all.filter((s) =>
        actionsOf(s).some((a) => a === 'iam:PassRole' || a === 'iam:*' || a === '*'),
      );
      assert.equal(passes.length, 1);
    });

    it('grants dynamodb:BatchWriteItem on the table alone, to the processor and the worker only', () => {
      const { compute, orchestration, table } = world.stack;
      const loadRows = { Effect: 'Allow', Action: 'dynamodb:BatchWriteItem', Resource: [arn(table.table)] };
      for (const role of [compute.taskRole, orchestration.workerTaskRole]) {
        world.template.hasResourceProperties('AWS::IAM::Policy', {
          Roles: [ref(role)],
          PolicyDocument: { Statement: Match.arrayWith([loadRows]) },
        });
      }
      // Every statement of the stack on the table, or with a DynamoDB action: those two, nothing else.
      const tableId = id(table.table);
      const policies = Object.values(world.template.findResources('AWS::IAM::Policy')) as (PolicyResource & {
        Properties: { Roles: unknown[] };
      })[];
      const onTable = policies.flatMap((p) =>
        p.Properties.PolicyDocument.Statement.filter(
          (s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')) || JSON.stringify(s).includes(tableId),
        ).map((statement) => ({ roles: p.Properties.Roles, statement })),
      );
      const roleIds = (roles: unknown[]) => roles.map((r) => (r as { Ref: string }).Ref);
      assert.deepEqual(
        onTable.flatMap((x) => roleIds(x.roles)).sort(),
        [id(compute.taskRole), id(orchestration.workerTaskRole)].sort(),
      );
      for (const { statement } of onTable) assert.deepEqual(statement, loadRows);
    });

    it('gives the worker the processor\u2019s statements, for its inline runs, with the same scope', () => {
      const { compute, orchestration } = world.stack;
      const worker = statementsOf(orchestration.workerTaskRole);
      const processor = statementsOf(compute.taskRole);
      assert.ok(processor.length > 0);
      for (const statement of processor) {
        assert.ok(
          worker.some((w) => matches(statement as unknown as Record<string, unknown>, w)),
          `worker task role lacks the processor's ${JSON.stringify(statement)}`,
        );
      }
    });
  });

  describe('services', () => {
    /** Names the stack sets on a container, plain and secret. */
    function variablesSet(process: ProcessName): {
      plain: Map<string, unknown>;
      secret: Map<string, unknown>;
    } {
      const { orchestration, operatorConsole } = world.stack;
      const services = {
        worker: orchestration.workerService,
        ingress: orchestration.ingressService,
        console: operatorConsole!.service,
      };
      const container = containerOf(services[process].taskDefinition, process);
      return {
        plain: new Map((container.Environment ?? []).map((e) => [e.Name, e.Value])),
        secret: new Map((container.Secrets ?? []).map((e) => [e.Name, e.ValueFrom])),
      };
    }

    for (const process of ['worker', 'ingress', 'console'] as const) {
      it(`sets only variables the ${process} reads, and every one it requires`, () => {
        const { plain, secret } = variablesSet(process);
        const environment = { ...Object.fromEntries(secret), ...Object.fromEntries(plain) };
        assert.deepEqual(environmentProblems(process, environment), []);
      });
    }

    it('takes the Temporal connection from Secrets Manager, the API key included', () => {
      for (const process of ['worker', 'ingress', 'console'] as const) {
        const { plain, secret } = variablesSet(process);
        for (const [name, key] of [
          ['TEMPORAL_ADDRESS', 'address'],
          ['TEMPORAL_NAMESPACE', 'namespace'],
          ['TEMPORAL_API_KEY', 'apiKey'],
        ] as const) {
          assert.ok(!plain.has(name), `${name} must not be a plain variable`);
          assert.match(
            JSON.stringify(secret.get(name)),
            new RegExp(`:secret:file-pipeline/temporal:${key}::`),
          );
        }
      }
    });

    it('points the worker at what the stack created, in aws mode', () => {
      const { compute, storage } = world.stack;
      const { plain } = variablesSet('worker');
      const expected: Partial<Record<EnvName, unknown>> = {
        COMPUTE_MODE: 'aws',
        OUTPUT_BUCKET: ref(storage.outputBucket),
        DYNAMODB_TABLE: ref(world.stack.table.table),
        BATCH_JOB_QUEUE: arn(compute.jobQueue, 'JobQueueArn'),
        BATCH_JOB_DEFINITION: ref(compute.jobDefinition),
        ECS_CLUSTER: ref(compute.cluster),
        ECS_TASK_DEFINITION: ref(compute.taskDefinition),
        ECS_CONTAINER_NAME: PROCESSOR_CONTAINER,
        ECS_CAPACITY_PROVIDER: 'FARGATE',
        ECS_SECURITY_GROUPS: arn(compute.securityGroup, 'GroupId'),
        AWS_REGION: { Ref: 'AWS::Region' },
      };
      for (const [name, value] of Object.entries(expected)) assert.deepEqual(plain.get(name), value, name);
      assert.match(
        JSON.stringify(plain.get('ECS_SUBNETS')),
        /"Fn::Join":\[",",\[\{"Ref":"NetworkVpcprivateSubnet1/,
      );
      const { plain: ingress } = variablesSet('ingress');
      assert.deepEqual(ingress.get('QUEUE_URL'), ref(world.stack.queue.queue));
      assert.equal(ingress.get('INLINE_MAX_BYTES'), String(4 * 1024 * 1024));
      assert.deepEqual(ingress.get('INPUT_BUCKETS'), ref(storage.inputBucket));
      assert.equal(ingress.get('VISIBILITY_TIMEOUT_SECONDS'), '300');
    });

    it('sizes the worker\u2019s inline pool to its task: one thread per vCPU', () => {
      const task = propertiesOf<{ Cpu: string; Memory: string }>(
        world.stack.orchestration.workerService.taskDefinition,
      );
      const vcpus = Number(task.Cpu) / 1024;
      assert.ok(Number.isInteger(vcpus) && vcpus >= 1, `${task.Cpu} CPU units`);
      assert.equal(variablesSet('worker').plain.get('INLINE_MAX_CONCURRENT'), String(vcpus));
      // The worker itself and one inline run per thread, each within the processor's 512 MiB peak bound.
      assert.ok(Number(task.Memory) >= 1024 + vcpus * 512, `${task.Memory} MiB`);
    });

    it('gives the worker 120 s to stop, and both processes their image health checks', () => {
      const { orchestration } = world.stack;
      const worker = containerOf(orchestration.workerService.taskDefinition, 'worker');
      const ingress = containerOf(orchestration.ingressService.taskDefinition, 'ingress');
      assert.equal(worker.StopTimeout, 120);
      assert.deepEqual(worker.HealthCheck?.Command, ['CMD', 'node', '-e', WORKER_HEALTHCHECK]);
      assert.deepEqual(ingress.HealthCheck?.Command, ['CMD', 'node', '-e', INGRESS_HEALTHCHECK]);
      world.template.hasResourceProperties('AWS::ECS::Service', {
        Cluster: ref(orchestration.cluster),
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
        DeploymentConfiguration: Match.objectLike({
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        }),
      });
    });

    it('scales the worker on its schedule-to-start latency and CPU, and the ingress on queue depth', () => {
      const latency = (metricName: string) => ({
        MetricStat: {
          Metric: {
            Namespace: METRICS_NAMESPACE,
            MetricName: metricName,
            Dimensions: [{ Name: 'task_queue', Value: DEFAULTS.taskQueue }],
          },
          Stat: 'Average',
        },
        ReturnData: false,
      });
      world.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        ScalingTargetId: Match.anyValue(),
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: {
          CustomizedMetricSpecification: {
            Metrics: [
              { Id: 'workflowTasks', ...latency('temporal_workflow_task_schedule_to_start_latency') },
              { Id: 'activities', ...latency('temporal_activity_schedule_to_start_latency') },
              Match.objectLike({
                Expression: 'MAX([FILL(workflowTasks, 0), FILL(activities, 0)])',
                ReturnData: true,
              }),
            ],
          },
          // Milliseconds, the SDK's unit for durations.
          TargetValue: SCHEDULE_TO_START_TARGET.toMilliseconds(),
          ScaleOutCooldown: 60,
          ScaleInCooldown: 300,
        },
      });
      assert.equal(SCHEDULE_TO_START_TARGET.toSeconds(), 2);
      world.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        }),
      });
      world.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: arn(world.stack.queue.queue, 'QueueName') }],
        AlarmActions: [{ Ref: Match.stringLikeRegexp('QueueDepth') }],
      });
    });
  });

  describe('telemetry: the worker\u2019s metrics to CloudWatch, traces to X-Ray', () => {
    interface CollectorConfig {
      receivers: {
        prometheus: {
          config: {
            scrape_configs: {
              scrape_interval: string;
              static_configs: { targets: string[] }[];
              metric_relabel_configs: Record<string, unknown>[];
            }[];
          };
        };
        otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } };
      };
      processors: { cumulativetodelta: { include: { match_type: string; metrics: string[] } } };
      exporters: {
        awsemf: {
          namespace: string;
          log_group_name: string;
          dimension_rollup_option: string;
          metric_declarations: { dimensions: string[][]; metric_name_selectors: string[] }[];
        };
        awsxray: Record<string, unknown>;
      };
      service: {
        pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
      };
    }
    const workerTask = () => world.stack.orchestration.workerService.taskDefinition;
    const collector = () =>
      containerOf(workerTask(), COLLECTOR_CONTAINER) as ContainerDefinition & Record<string, unknown>;
    /** The collector's configuration: JSON, which YAML (AOT_CONFIG_CONTENT) reads as it is. */
    const collectorConfig = (): CollectorConfig => {
      const value = collector().Environment?.find((e) => e.Name === 'AOT_CONFIG_CONTENT')?.Value;
      assert.ok(value, 'AOT_CONFIG_CONTENT');
      return JSON.parse(flatten(value)) as CollectorConfig;
    };

    it('runs the ADOT collector beside the worker: a pinned version, non-essential, hardened, capped', () => {
      const c = collector();
      assert.match(ADOT_IMAGE, /^public\.ecr\.aws\/aws-observability\/aws-otel-collector:v\d+\.\d+\.\d+$/);
      assert.equal(c.Image, ADOT_IMAGE);
      assert.equal(c.Essential, false, 'a collector failure must not stop the worker');
      assert.ok(
        matches(
          {
            ReadonlyRootFilesystem: true,
            User: COLLECTOR_USER,
            LinuxParameters: { InitProcessEnabled: true, Capabilities: { Drop: ['ALL'] } },
            Memory: 256,
            LogConfiguration: {
              Options: {
                'awslogs-group': ref(world.stack.orchestration.workerLogGroup),
                'awslogs-stream-prefix': 'otel',
              },
            },
          },
          c,
        ),
        JSON.stringify(c),
      );
      assert.deepEqual(
        (c.Environment ?? []).map((e) => e.Name),
        ['AOT_CONFIG_CONTENT'],
      );
    });

    it('scrapes the address the worker serves its metrics on, every minute, keeping the pipeline\u2019s job label', () => {
      const worker = containerOf(workerTask(), 'worker');
      const address = worker.Environment?.find((e) => e.Name === 'METRICS_ADDRESS')?.Value;
      assert.equal(address, WORKER_METRICS_ADDRESS);
      assert.match(WORKER_METRICS_ADDRESS, /^127\.0\.0\.1:\d+$/, 'loopback only');
      const [scrape, ...others] = collectorConfig().receivers.prometheus.config.scrape_configs;
      assert.equal(others.length, 0);
      assert.deepEqual(scrape!.static_configs, [{ targets: [address] }]);
      assert.equal(scrape!.scrape_interval, '60s');
      // The scrape owns `job`: the worker's arrives as exported_job, and is renamed.
      assert.deepEqual(scrape!.metric_relabel_configs, [
        { source_labels: ['exported_job'], target_label: JOB_DIMENSION },
        { action: 'labeldrop', regex: 'exported_job' },
      ]);
      // The collector expands ${…} and $NAME in its configuration: only the regexes' end anchors may have a $.
      assert.doesNotMatch(JSON.stringify(collectorConfig()), /\$[{$\w]/);
    });

    it('sends the metrics as EMF to the stack\u2019s log group, histograms as per-minute deltas, and OTLP traces to X-Ray', () => {
      const config = collectorConfig();
      const { orchestration } = world.stack;
      const emf = config.exporters.awsemf;
      assert.equal(emf.log_group_name, `{Ref:${id(orchestration.workerMetricsLogGroup)}}`);
      assert.equal(emf.namespace, METRICS_NAMESPACE);
      assert.equal(emf.dimension_rollup_option, 'NoDimensionRollup');
      const dimensionsOf = (metric: string) =>
        emf.metric_declarations
          .filter((d) => d.metric_name_selectors.some((s) => new RegExp(s).test(metric)))
          .flatMap((d) => d.dimensions);
      assert.deepEqual(dimensionsOf('temporal_activity_schedule_to_start_latency'), [['task_queue']]);
      assert.deepEqual(dimensionsOf('temporal_workflow_task_schedule_to_start_latency'), [['task_queue']]);
      assert.deepEqual(dimensionsOf('pipeline_files'), [['outcome'], [JOB_DIMENSION, 'route', 'outcome']]);
      assert.deepEqual(dimensionsOf('pipeline_processing_seconds'), [[JOB_DIMENSION, 'backend']]);
      assert.deepEqual(dimensionsOf('pipeline_dead_letters'), [['type']]);
      // Only what the dashboard and the scaling read: no other SDK metric becomes a billed CloudWatch metric.
      assert.deepEqual(dimensionsOf('temporal_workflow_completed'), []);
      assert.deepEqual(dimensionsOf('temporal_activity_schedule_to_start_latency_bucket'), []);
      assert.deepEqual(config.processors.cumulativetodelta.include, {
        match_type: 'strict',
        metrics: [...HISTOGRAMS],
      });
      assert.deepEqual(config.receivers.otlp.protocols, {
        grpc: { endpoint: '127.0.0.1:4317' },
        http: { endpoint: '127.0.0.1:4318' },
      });
      assert.deepEqual(config.service.pipelines, {
        metrics: {
          receivers: ['prometheus'],
          processors: ['cumulativetodelta', 'batch'],
          exporters: ['awsemf'],
        },
        traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['awsxray'] },
      });
    });

    it('sends the worker\u2019s and the ingress\u2019s spans to their task\u2019s collector, the ingress\u2019s a traces-only one', () => {
      const { orchestration } = world.stack;
      for (const [service, name] of [
        [orchestration.workerService, 'worker'],
        [orchestration.ingressService, 'ingress'],
      ] as const) {
        const env = new Map(
          (containerOf(service.taskDefinition, name).Environment ?? []).map((e) => [e.Name, e.Value]),
        );
        assert.equal(env.get('OTEL_TRACES_EXPORTER'), 'otlp', name);
        assert.equal(env.get('OTEL_EXPORTER_OTLP_ENDPOINT'), 'http://127.0.0.1:4318', name);
      }
      const ingressCollector = containerOf(orchestration.ingressService.taskDefinition, COLLECTOR_CONTAINER);
      const value = ingressCollector.Environment?.find((e) => e.Name === 'AOT_CONFIG_CONTENT')?.Value;
      const config = JSON.parse(flatten(value)) as CollectorConfig;
      assert.deepEqual(Object.keys(config.receivers), ['otlp']);
      assert.deepEqual(Object.keys(config.exporters), ['awsxray']);
      assert.deepEqual(Object.keys(config.service.pipelines), ['traces']);
      const ingressStatements = statementsOf(orchestration.ingressTaskRole);
      assert.ok(!ingressStatements.some((s) => actionsOf(s).some((a) => a.startsWith('logs:'))), 'no EMF');
    });

    it('lets the worker\u2019s task role write EMF events to that log group only, and send traces to X-Ray', () => {
      const { orchestration } = world.stack;
      const statements = statementsOf(orchestration.workerTaskRole);
      const emf = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
      assert.deepEqual(emf, [
        {
          Sid: 'CollectorWritesMetrics',
          Effect: 'Allow',
          Action: ['logs:PutLogEvents', 'logs:CreateLogStream', 'logs:DescribeLogStreams'],
          Resource: arn(orchestration.workerMetricsLogGroup),
        },
      ]);
      const xray = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('xray:')));
      assert.deepEqual(xray, [
        { Sid: 'CollectorSendsTraces', Effect: 'Allow', Action: XRAY_ACTIONS, Resource: '*' },
      ]);
    });

    it('shows throughput, time per file, failures, schedule-to-start latency and worker tasks on the dashboard', () => {
      const dashboard = Object.values(world.template.findResources('AWS::CloudWatch::Dashboard'))[0] as {
        Properties: { DashboardBody: unknown };
      };
      const body = JSON.parse(flatten(dashboard.Properties.DashboardBody)) as {
        widgets: { properties: { title?: string; metrics?: unknown[][] } }[];
      };
      const metricsOf = (title: RegExp) => {
        const widget = body.widgets.find((w) => title.test(w.properties.title ?? ''));
        assert.ok(widget, `a widget ${title}`);
        return JSON.stringify(widget.properties.metrics);
      };
      const throughput = metricsOf(/^Files per minute/);
      for (const outcome of ['processed', 'processed-with-failed-chunks', 'skipped', 'failed', 'released']) {
        assert.ok(
          throughput.includes(`"${METRICS_NAMESPACE}","pipeline_files","outcome","${outcome}"`),
          outcome,
        );
      }
      assert.match(throughput, /"stat":"Sum"/);
      const latency = metricsOf(/^Seconds per file/);
      assert.match(latency, /"pipeline_file_seconds","outcome","processed",\{"label":"processed: mean"/);
      assert.match(
        latency,
        /SEARCH\('\{FilePipeline,pipeline_job,backend\} MetricName=\\"pipeline_processing_seconds\\"'/,
      );
      const failures = metricsOf(/^Failures/);
      assert.match(failures, /"pipeline_files","outcome","failed"/);
      assert.match(failures, /MetricName=\\"pipeline_dead_letters\\"/);
      const backlog = metricsOf(/^Schedule-to-start/);
      for (const queue of [
        DEFAULTS.taskQueue,
        `${DEFAULTS.taskQueue}-compute`,
        `${DEFAULTS.taskQueue}-inline`,
      ]) {
        assert.ok(
          backlog.includes(`"temporal_activity_schedule_to_start_latency","task_queue","${queue}"`),
          queue,
        );
      }
      assert.ok(
        backlog.includes(
          `"temporal_workflow_task_schedule_to_start_latency","task_queue","${DEFAULTS.taskQueue}"`,
        ),
      );
      assert.match(metricsOf(/^Worker tasks/), /"ECS\/ContainerInsights","DesiredTaskCount"/);
      // The queue depth stays: the backlog before the hand-over.
      assert.match(metricsOf(/^Notifications waiting/), /ApproximateNumberOfMessagesVisible/);
    });
  });

  describe("the operator's console", () => {
    it('is deployed only with the console context, which configures its authentication', () => {
      const bare = new PipelineStack(new App(), 'Bare');
      assert.equal(bare.operatorConsole, undefined);
      const template = Template.fromStack(bare);
      template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 0);
      assert.ok(!JSON.stringify(template.toJSON()).includes('CorsConfiguration'), 'no CORS rule without it');
    });

    it('names each invalid field of the console context, and the README section', () => {
      const app = new App({
        context: { console: JSON.stringify({ ...OIDC_CONSOLE, auth: { type: 'oidc' } }) },
      });
      assert.throws(
        () => resolveSettings(app.node, {}),
        /console\.auth\.issuer: .*\n(.|\n)*infra\/README\.md/,
      );
      const plain = new App({
        context: { console: JSON.stringify({ ...OIDC_CONSOLE, domainName: 'http://x' }) },
      });
      assert.throws(() => resolveSettings(plain.node, {}), /console\.domainName/);
      const notJson = new App({ context: { console: '{domainName' } });
      assert.throws(() => resolveSettings(notJson.node, {}), /context console is not JSON/);
    });

    it('listens on HTTPS only, authenticating every request with the IdP before forwarding it', () => {
      const listeners = world.template.findResources('AWS::ElasticLoadBalancingV2::Listener');
      assert.equal(Object.keys(listeners).length, 1, 'one listener: no plain HTTP');
      const [listener] = Object.values(listeners) as {
        Properties: {
          Port: number;
          Protocol: string;
          SslPolicy: string;
          DefaultActions: { Type: string; Order: number }[];
        };
      }[];
      assert.equal(listener!.Properties.Port, 443);
      assert.equal(listener!.Properties.Protocol, 'HTTPS');
      assert.match(listener!.Properties.SslPolicy, /TLS13/);
      const actions = [...listener!.Properties.DefaultActions].sort((a, b) => a.Order - b.Order);
      assert.deepEqual(
        actions.map((a) => a.Type),
        ['authenticate-oidc', 'forward'],
      );
      world.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Certificates: [{ CertificateArn: OIDC_CONSOLE.certificateArn }],
        DefaultActions: Match.arrayWith([
          Match.objectLike({
            AuthenticateOidcConfig: Match.objectLike({
              Issuer: 'https://login.example.com',
              ClientId: 'file-pipeline-console',
              ClientSecret: Match.stringLikeRegexp('resolve:secretsmanager:file-pipeline/console-oidc'),
            }),
          }),
        ]),
      });
      world.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
        Scheme: 'internet-facing',
        LoadBalancerAttributes: Match.arrayWith([
          { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
          { Key: 'access_logs.s3.enabled', Value: 'true' },
        ]),
      });
    });

    it('lets in only HTTPS to the load balancer, and only the load balancer to the console', () => {
      const { operatorConsole } = world.stack;
      const lbGroups = operatorConsole!.loadBalancer.connections.securityGroups.map((g) => g.securityGroupId);
      const lb = propertiesOf<{
        SecurityGroupIngress: { FromPort: number; ToPort: number; CidrIp: string }[];
      }>(id(operatorConsole!.loadBalancer.connections.securityGroups[0]!));
      assert.deepEqual(
        lb.SecurityGroupIngress.map((r) => [r.FromPort, r.ToPort, r.CidrIp]),
        [[443, 443, '0.0.0.0/0']],
      );
      const ingress = Object.values(world.template.findResources('AWS::EC2::SecurityGroupIngress')) as {
        Properties: { FromPort: number; SourceSecurityGroupId: unknown; GroupId: unknown };
      }[];
      const toConsole = ingress.filter((r) =>
        JSON.stringify(r.Properties.GroupId).includes(
          id(operatorConsole!.service.connections.securityGroups[0]!),
        ),
      );
      assert.equal(toConsole.length, 1);
      assert.equal(toConsole[0]!.Properties.FromPort, CONSOLE_PORT);
      assert.match(
        JSON.stringify(toConsole[0]!.Properties.SourceSecurityGroupId),
        new RegExp(id(operatorConsole!.loadBalancer.connections.securityGroups[0]!)),
      );
      assert.equal(lbGroups.length, 1);
    });

    it('runs the console with its public origin, its health check, and the load balancer checking /healthz', () => {
      const { operatorConsole } = world.stack;
      const container = containerOf(operatorConsole!.service.taskDefinition, 'console');
      const env = new Map((container.Environment ?? []).map((e) => [e.Name, e.Value]));
      assert.equal(env.get('CONSOLE_ORIGIN'), `https://${OIDC_CONSOLE.domainName}`);
      assert.equal(env.get('CONSOLE_PORT'), String(CONSOLE_PORT));
      assert.deepEqual(container.HealthCheck?.Command, ['CMD', 'node', '-e', CONSOLE_HEALTHCHECK]);
      world.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        HealthCheckPath: '/healthz',
        Port: CONSOLE_PORT,
        TargetType: 'ip',
      });
    });

    it('opens the input bucket to POSTs from the console origin only', () => {
      const input = propertiesOf<{ CorsConfiguration: { CorsRules: unknown[] } }>(
        world.stack.storage.inputBucket,
      );
      assert.deepEqual(input.CorsConfiguration.CorsRules, [
        { AllowedMethods: ['POST'], AllowedOrigins: [`https://${OIDC_CONSOLE.domainName}`], MaxAge: 3600 },
      ]);
    });

    it('authenticates with a Cognito user pool instead, when the context names one', () => {
      const stack = new PipelineStack(new App(), 'Cognito', {
        settings: {
          console: {
            ...OIDC_CONSOLE,
            auth: {
              type: 'cognito',
              userPoolArn: 'arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEfGhI',
              userPoolClientId: '1example23456789',
              userPoolDomain: 'file-pipeline-console',
            },
          },
        },
      });
      Template.fromStack(stack).hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        DefaultActions: Match.arrayWith([
          Match.objectLike({
            Type: 'authenticate-cognito',
            AuthenticateCognitoConfig: Match.objectLike({ UserPoolDomain: 'file-pipeline-console' }),
          }),
        ]),
      });
    });
  });

  describe('observability', () => {
    it('keeps every log group for 30 days', () => {
      const groups = Object.values(world.template.findResources('AWS::Logs::LogGroup'));
      assert.ok(groups.length > 0);
      for (const group of groups)
        assert.equal((group as { Properties: { RetentionInDays: number } }).Properties.RetentionInDays, 30);
    });

    it('alarms to the topic, and back to OK, on new dead letters, old messages and services below their desired count', () => {
      const topic = ref(world.stack.observability.alarmTopic);
      const dlqName = arn(world.stack.queue.deadLetterQueue, 'QueueName');
      // Arrivals (a rise of visible + in flight), not depth: old dead letters must not keep it in ALARM.
      world.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'DIFF(FILL(visible, 0) + FILL(inFlight, 0))', ReturnData: true }),
          Match.objectLike({
            Id: 'visible',
            MetricStat: Match.objectLike({
              Metric: {
                Namespace: 'AWS/SQS',
                MetricName: 'ApproximateNumberOfMessagesVisible',
                Dimensions: [{ Name: 'QueueName', Value: dlqName }],
              },
            }),
          }),
          Match.objectLike({
            Id: 'inFlight',
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({
                MetricName: 'ApproximateNumberOfMessagesNotVisible',
                Dimensions: [{ Name: 'QueueName', Value: dlqName }],
              }),
            }),
          }),
        ]),
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        DatapointsToAlarm: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [topic],
        OKActions: [topic],
      });
      // Every run a file may get (its message is held meanwhile), plus an hour: 4 h by default.
      world.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Threshold: COMPUTE_TIMEOUT.toSeconds() * DEFAULTS.computeRetry.maximumAttempts + 3600,
        AlarmActions: [topic],
        OKActions: [topic],
      });
      assert.equal(maxMessageAge(COMPUTE_TIMEOUT).toSeconds(), 4 * 3600);
      world.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: Match.arrayWith([Match.objectLike({ Expression: 'desired - running' })]),
        AlarmActions: [topic],
      });
      world.template.hasResourceProperties('AWS::CloudWatch::Dashboard', {});
    });

    it('encrypts both topics with the alarm key, and warns at synth when nobody is subscribed', () => {
      const key = arn(world.stack.node.findChild('Observability').node.findChild('AlarmTopicKey'));
      for (const topic of [world.stack.observability.alarmTopic, world.stack.observability.eventsTopic]) {
        assert.deepEqual(propertiesOf<{ KmsMasterKeyId: unknown }>(topic).KmsMasterKeyId, key);
      }
      world.template.hasOutput('EventsTopicArn', { Value: ref(world.stack.observability.eventsTopic) });
      // The test stack has no alarmEmail.
      world.template.resourceCountIs('AWS::SNS::Subscription', 0);
      Annotations.fromStack(world.stack).hasWarning(
        '/FilePipeline',
        Match.stringLikeRegexp('no subscriber.*-c alarmEmail=.*AlarmTopicArn'),
      );
    });

    /** The wildcards of a rule's `field` pattern: `[{wildcard}…]`, or `[{anything-but: {wildcard: […]}}]`. */
    function reasonPatterns(rule: IConstruct, field: string): { paging: boolean; wildcards: string[] } {
      const { EventPattern, Targets } = propertiesOf<{
        EventPattern: { detail: Record<string, unknown> };
        Targets: { Arn: unknown }[];
      }>(rule);
      const detail = EventPattern.detail;
      const paging = matches({ Arn: ref(world.stack.observability.alarmTopic) }, Targets[0]);
      if (!paging) {
        assert.deepEqual(Targets[0]?.Arn, ref(world.stack.observability.eventsTopic));
        const wildcards = (detail[field] as { wildcard: string }[]).map((w) => w.wildcard);
        return { paging, wildcards };
      }
      // A reason none of the expected ones, or no reason at all.
      const or = detail.$or as Record<
        string,
        [{ 'anything-but'?: { wildcard: string[] }; exists?: boolean }]
      >[];
      assert.deepEqual(or[1], { [field]: [{ exists: false }] });
      const wildcards = or[0]?.[field]?.[0]['anything-but']?.wildcard;
      assert.ok(wildcards, `${field}: anything-but wildcards`);
      return { paging, wildcards };
    }
    /** EventBridge's wildcard: `*` is any run of characters, the rest literal. */
    const wildcardMatches = (pattern: string, value: string) => {
      const literal = (part: string) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
      return new RegExp(`^${pattern.split('*').map(literal).join('.*')}$`).test(value);
    };
    /** Whether a stop reason pages through `rule` (paging rule) or reaches the events topic (the other). */
    function routes(rule: IConstruct, field: string, reason: string): boolean {
      const { paging, wildcards } = reasonPatterns(rule, field);
      const listed = wildcards.some((w) => wildcardMatches(w, reason));
      return paging ? !listed : listed;
    }
    const WORKER_STOPS = [
      workerStopReason('cancelled by its Temporal workflow'),
      workerStopReason('no capacity: RUNNABLE for more than 900s on file-pipeline-spot'),
    ];
    const SPOT_RECLAIMS = [
      'Your Spot Task was interrupted.',
      'Host EC2 (instance i-0123456789abcdef0) terminated.',
    ];
    const REAL_FAILURES = ['Essential container in task exited', 'Job attempt duration exceeded timeout'];

    it("pages on a FAILED Batch job of the processor queue, but not on the worker's own stops or Spot reclaims", () => {
      const { batchFailed, batchStoppedAsExpected } = world.stack.observability.processorRules;
      for (const rule of [batchFailed, batchStoppedAsExpected]) {
        const pattern = {
          EventPattern: {
            source: ['aws.batch'],
            'detail-type': ['Batch Job State Change'],
            detail: Match.objectLike({
              status: ['FAILED'],
              jobQueue: [arn(world.stack.compute.jobQueue, 'JobQueueArn')],
            }),
          },
          Targets: [
            Match.objectLike({
              InputTransformer: Match.objectLike({
                InputPathsMap: Match.objectLike({ 'detail-statusReason': '$.detail.statusReason' }),
              }),
            }),
          ],
        };
        assert.ok(matches(pattern, propertiesOf(rule)), `${id(rule)}: FAILED jobs of the processor queue`);
      }
      for (const reason of REAL_FAILURES) {
        assert.ok(routes(batchFailed, 'statusReason', reason), `${reason} pages`);
        assert.ok(!routes(batchStoppedAsExpected, 'statusReason', reason), `${reason}: not an expected stop`);
      }
      for (const reason of [...WORKER_STOPS, ...SPOT_RECLAIMS]) {
        assert.ok(!routes(batchFailed, 'statusReason', reason), `${reason} pages nobody`);
        assert.ok(
          routes(batchStoppedAsExpected, 'statusReason', reason),
          `${reason} goes to the events topic`,
        );
      }
    });

    it("pages on a processor ECS task whose processor container exited non-zero, but not on the worker's StopTask or Spot", () => {
      const { ecsFailed, ecsStoppedAsExpected } = world.stack.observability.processorRules;
      const cluster = arn(world.stack.compute.cluster);
      world.template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.ecs'],
          'detail-type': ['ECS Task State Change'],
          detail: Match.objectLike({
            clusterArn: [cluster],
            lastStatus: ['STOPPED'],
            // One array element: the processor container's own exit code.
            containers: { name: [PROCESSOR_CONTAINER], exitCode: [{ 'anything-but': [0] }] },
          }),
        },
        Targets: [
          Match.objectLike({
            Arn: ref(world.stack.observability.alarmTopic),
            InputTransformer: Match.objectLike({
              InputPathsMap: {
                'detail-taskArn': '$.detail.taskArn',
                'detail-containers-0--exitCode': '$.detail.containers[0].exitCode',
                'detail-stoppedReason': '$.detail.stoppedReason',
                'detail-stopCode': '$.detail.stopCode',
              },
            }),
          }),
        ],
      });
      world.template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.ecs'],
          'detail-type': ['ECS Task State Change'],
          detail: Match.objectLike({ clusterArn: [cluster], lastStatus: ['STOPPED'] }),
        },
        Targets: [Match.objectLike({ Arn: ref(world.stack.observability.eventsTopic) })],
      });
      for (const reason of REAL_FAILURES) {
        assert.ok(routes(ecsFailed, 'stoppedReason', reason), `${reason} pages`);
        assert.ok(!routes(ecsStoppedAsExpected, 'stoppedReason', reason), `${reason}: not an expected stop`);
      }
      for (const reason of [...WORKER_STOPS, SPOT_RECLAIMS[0]!]) {
        assert.ok(!routes(ecsFailed, 'stoppedReason', reason), `${reason} pages nobody`);
        assert.ok(
          routes(ecsStoppedAsExpected, 'stoppedReason', reason),
          `${reason} goes to the events topic`,
        );
      }
    });
  });

  describe('checks', () => {
    it('has no unsuppressed cdk-nag AwsSolutions finding, and every suppression says why', () => {
      const annotations = Annotations.fromStack(world.stack);
      const findings = [
        ...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-')),
        ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-')),
      ].map((f) => `${f.id}: ${JSON.stringify(f.entry.data)}`);
      assert.deepEqual(findings, []);
      const suppressions = Object.values(
        world.template.toJSON().Resources as Record<string, { Metadata?: unknown }>,
      ).flatMap(
        (r) =>
          (r.Metadata as { cdk_nag?: { rules_to_suppress: { id: string; reason: string }[] } })?.cdk_nag
            ?.rules_to_suppress ?? [],
      );
      assert.ok(suppressions.length > 0);
      for (const s of suppressions) assert.ok(s.reason.length >= 40, `${s.id}: a reason, not a placeholder`);
    });

    it('passes cfn-lint with no error', () => {
      const { errors, statusOk, stderr } = cfnLint(world.template.toJSON());
      assert.deepEqual(errors, []);
      assert.ok(statusOk, stderr);
    });

    it('passes checkov with no failed check, and every skip carries its reason', () => {
      const report = checkov(world.template.toJSON());
      assert.deepEqual(
        report.results.failed_checks.map((c) => `${c.check_id} ${c.resource}: ${c.check_name}`),
        [],
      );
      assert.equal(report.summary.parsing_errors, 0);
      assert.ok(report.summary.passed > 100, `${report.summary.passed} checks passed`);
      for (const s of report.results.skipped_checks) {
        assert.ok(
          (s.check_result.suppress_comment ?? '').length >= 40,
          `${s.check_id} on ${s.resource} says why`,
        );
      }
    });

    it('reads its parameters from context, rejecting invalid ones', () => {
      const app = new App({ context: { natGateways: '2', temporalApiKey: 'false' } });
      const settings = resolveSettings(app.node, { workerMaxTasks: 8 });
      assert.equal(settings.natGateways, 2);
      assert.equal(settings.temporalApiKey, false);
      assert.equal(settings.workerMaxTasks, 8);
      assert.equal(settings.temporalSecretName, 'file-pipeline/temporal');
      const bad = new App({ context: { natGateways: 'two' } });
      assert.throws(() => resolveSettings(bad.node, {}), /context natGateways="two" is invalid/);
      assert.equal(resolveSettings(app.node, {}).inlineMaxBytes, 4 * 1024 * 1024);
      const inline = new App({ context: { inlineMaxBytes: '0' } });
      assert.equal(resolveSettings(inline.node, {}).inlineMaxBytes, 0);
      const huge = new App({ context: { inlineMaxBytes: String(2 * 1024 ** 3) } });
      assert.throws(() => resolveSettings(huge.node, {}), /context inlineMaxBytes="2147483648" is invalid/);
    });
  });
});
