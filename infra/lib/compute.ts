/**
 * Where processors run: an AWS Batch job queue on Fargate Spot with an on-demand Fargate fallback, and an
 * ECS cluster with the processor task definition. One image, one task role and one execution role serve
 * both routes, so the worker's `iam:PassRole` names exactly two roles.
 */
import { Duration, Size } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { DEFAULTS } from '../../contract/defaults';
import { OUTPUTS_PREFIX, REJECTS_PREFIX, STAGING_PREFIX } from '../../contract/layout';
import {
  CONTAINER_USER,
  dockerImage,
  hardenedContainer,
  RUNTIME_PLATFORM,
  type PrebuiltImages,
} from './images';
import type { PipelineLogs } from './logging';

/** Where the processor writes in the output bucket: the keys the workflow gives it (DEST_KEY, REJECTS_KEY, STATS_KEY). */
const PROCESSOR_WRITE_PREFIXES = [OUTPUTS_PREFIX, REJECTS_PREFIX, STAGING_PREFIX] as const;

/** What the processor reads and writes. */
interface ProcessorResources {
  readonly input: s3.IBucket;
  readonly output: s3.IBucket;
  readonly table: dynamodb.ITable;
}

/**
 * The processor's S3 calls (processors/object-io.ts): GetObject of the notified version of its input; uploads
 * (single or multipart, aborted on failure) of its output, rejects and statistics; and for a whole CSV file a
 * CopyObject of its output onto itself, to set the row counts known only at the end, which reads the output
 * as its source. It never deletes. And the one call of csv-to-dynamodb (processors/dynamodb-writer.ts):
 * BatchWriteItem of the rows into the table, which puts items and never reads or deletes one.
 */
function grantProcessor(role: iam.Role, { input, output, table }: ProcessorResources): void {
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadInputs',
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: [input.arnForObjects('*')],
    }),
  );
  // Without it a missing input is a 403, not the 404 the processor turns into its "input missing" exit code.
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'SeeMissingInputs',
      actions: ['s3:ListBucket'],
      resources: [input.bucketArn],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'WriteOutputs',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: PROCESSOR_WRITE_PREFIXES.map((prefix) => output.arnForObjects(`${prefix}*`)),
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'CopyOutputOntoItself',
      actions: ['s3:GetObject'],
      resources: [output.arnForObjects(`${OUTPUTS_PREFIX}*`)],
    }),
  );
  table.grant(role, 'dynamodb:BatchWriteItem');
}

/** Name of the processor container in the ECS task definition (`ECS_CONTAINER_NAME`). */
export const PROCESSOR_CONTAINER = DEFAULTS.processorContainer;
/** The processor entrypoint, as built by `npm run build` into the image. */
export const PROCESSOR_COMMAND = ['node', 'dist/processors/main.js'];

/** Props of {@link ProcessorCompute}. */
export interface ProcessorComputeProps {
  /** VPC of the Batch compute environments and the ECS tasks. */
  readonly vpc: ec2.IVpc;
  /** Private subnets every processor run is placed in (`ECS_SUBNETS`). */
  readonly subnets: ec2.SubnetSelection;
  /** Read by the processor (exactly the notified version). */
  readonly inputBucket: s3.IBucket;
  /** Written by the processor. */
  readonly outputBucket: s3.IBucket;
  /** Where the csv-to-dynamodb job puts its rows (`DYNAMODB_TABLE`). */
  readonly table: dynamodb.ITable;
  /** Longest processor run; the Batch job times out a little after it, as a backstop. */
  readonly computeTimeout: Duration;
  /** Makes the processor log group (Batch and ECS streams). */
  readonly logs: PipelineLogs;
  /**
   * vCPUs of one processor run (a Fargate size: 0.25, 0.5, 1, 2, 4).
   * @default 1
   */
  readonly vcpus?: number;
  /**
   * Memory of one processor run, valid for `vcpus` on Fargate.
   * @default Size.gibibytes(2)
   */
  readonly memory?: Size;
  /**
   * Upper bound of each Batch compute environment, in vCPUs.
   * @default 64
   */
  readonly batchMaxVcpus?: number;
  /**
   * The processor image pushed to ECR by CI.
   * @default - built by the CDK from docker/processor.Dockerfile
   */
  readonly images?: PrebuiltImages;
}

/**
 * The processor's two routes: `pool` files as AWS Batch jobs (`BATCH_JOB_QUEUE`, `BATCH_JOB_DEFINITION`), the
 * others as ECS tasks (`ECS_CLUSTER`, `ECS_TASK_DEFINITION`), both running the processor image.
 */
export class ProcessorCompute extends Construct {
  /** Role the processor runs as: read the input bucket, write the output bucket and the table, nothing else. */
  readonly taskRole: iam.Role;
  /** Role ECS and Batch use to pull the image and write its logs. */
  readonly executionRole: iam.Role;
  /** Egress-only security group of every processor run (`ECS_SECURITY_GROUPS`). */
  readonly securityGroup: ec2.SecurityGroup;
  /** Fargate Spot first, on-demand Fargate second. */
  readonly jobQueue: batch.JobQueue;
  readonly jobDefinition: batch.EcsJobDefinition;
  /** Cluster of processor tasks only (FARGATE and FARGATE_SPOT capacity providers). */
  readonly cluster: ecs.Cluster;
  /** Its container is {@link PROCESSOR_CONTAINER}. */
  readonly taskDefinition: ecs.FargateTaskDefinition;
  /** Every processor run's output, streams `batch/…` and `ecs/…`. */
  readonly logGroup: logs.LogGroup;
  private readonly resources: ProcessorResources;

  constructor(scope: Construct, id: string, props: ProcessorComputeProps) {
    super(scope, id);
    const vcpus = props.vcpus ?? 1;
    const memory = props.memory ?? Size.gibibytes(2);
    const image = dockerImage(this, 'processor', props.images);
    this.resources = { input: props.inputBucket, output: props.outputBucket, table: props.table };

    this.logGroup = props.logs.logGroup(this, 'Logs');
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Processor runs: HTTPS out to S3, ECR and CloudWatch Logs; nothing in',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs');

    const ecsTasks = new iam.ServicePrincipal('ecs-tasks.amazonaws.com');
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: ecsTasks,
      description:
        'Processor (Batch job and ECS task): read the input bucket, write its outputs in the output bucket and its rows in the table',
    });
    this.grantProcessorCalls(this.taskRole);
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: ecsTasks,
      description: 'Pulls the processor image and writes its logs (Batch and ECS)',
    });

    const logging = (streamPrefix: string) =>
      ecs.LogDriver.awsLogs({ logGroup: this.logGroup, streamPrefix });

    const environment = (spot: boolean) =>
      new batch.FargateComputeEnvironment(this, spot ? 'SpotEnvironment' : 'OnDemandEnvironment', {
        vpc: props.vpc,
        vpcSubnets: props.subnets,
        securityGroups: [this.securityGroup],
        spot,
        maxvCpus: props.batchMaxVcpus ?? 64,
      });
    this.jobQueue = new batch.JobQueue(this, 'JobQueue', {
      priority: 1,
      // Spot first; Batch places jobs on the on-demand environment once the Spot one is at maxvCpus. A
      // job waiting on Spot capacity longer than BATCH_RUNNABLE_TIMEOUT_SECONDS is rerouted to ECS.
      computeEnvironments: [
        { computeEnvironment: environment(true), order: 1 },
        { computeEnvironment: environment(false), order: 2 },
      ],
    });
    this.jobDefinition = new batch.EcsJobDefinition(this, 'JobDefinition', {
      container: new batch.EcsFargateContainerDefinition(this, 'JobContainer', {
        image,
        // As hardenedContainer(), except capabilities: Batch has no setting for them. The images keep no
        // setuid or setgid file, so the unprivileged user has no way to any capability.
        readonlyRootFilesystem: true,
        user: CONTAINER_USER,
        linuxParameters: new batch.LinuxParameters(this, 'JobLinuxParameters', { initProcessEnabled: true }),
        command: PROCESSOR_COMMAND,
        cpu: vcpus,
        memory,
        jobRole: this.taskRole,
        executionRole: this.executionRole,
        logging: logging('batch'),
        assignPublicIp: false,
        fargatePlatformVersion: ecs.FargatePlatformVersion.LATEST,
        fargateCpuArchitecture: ecs.CpuArchitecture.X86_64,
      }),
      // Temporal retries a failed run with backoff (and knows which failures are permanent): one attempt
      // per submitted job keeps "one job per activity attempt" true.
      retryAttempts: 1,
      timeout: props.computeTimeout.plus(Duration.minutes(5)),
      propagateTags: true,
    });

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      enableFargateCapacityProviders: true,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: vcpus * 1024,
      memoryLimitMiB: memory.toMebibytes(),
      taskRole: this.taskRole,
      executionRole: this.executionRole,
      runtimePlatform: RUNTIME_PLATFORM,
    });
    this.taskDefinition.addContainer(PROCESSOR_CONTAINER, {
      containerName: PROCESSOR_CONTAINER,
      image,
      command: PROCESSOR_COMMAND,
      essential: true,
      logging: logging('ecs'),
      ...hardenedContainer(this, 'LinuxParameters'),
    });

    NagSuppressions.addResourceSuppressions(
      this.taskRole,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Object ARNs with a key wildcard: any key of the input bucket may be a file to process, and the outputs, rejects and chunk parts it writes are named after it, under outputs/, rejects/ and staging/.',
          appliesTo: [
            { regex: '/^Resource::<.*Input.*\\.Arn>\\/\\*$/' },
            { regex: '/^Resource::<.*Output.*\\.Arn>\\/(outputs|rejects|staging)\\/\\*$/' },
          ],
        },
      ],
      true,
    );
    NagSuppressions.addResourceSuppressions(
      this.executionRole,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ecr:GetAuthorizationToken supports no resource-level permission (Resource "*"); the image pull itself is scoped to the asset repository.',
          appliesTo: ['Resource::*'],
        },
      ],
      true,
    );
  }

  /**
   * Grants `role` the processor's calls on this construct's input and output buckets and table, the same
   * statements as the processor's own task role: for the worker, whose inline runs execute the processor code
   * on its threads with the worker's credentials.
   */
  grantProcessorCalls(role: iam.Role): void {
    grantProcessor(role, this.resources);
  }
}
