/**
 * The two long-running processes as ECS Fargate services: the Temporal worker (workflows and activities,
 * submitting processor runs to Batch and ECS) and the ingress (SQS → signalWithStart). Each has its own
 * task role holding exactly the calls its code makes.
 */
import { Duration, Fn, Stack } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { EnvName } from '../../common/config';
import { PROCESSOR_CONTAINER, type ProcessorCompute } from './compute';
import { HEALTHCHECK_TIMING, INGRESS_HEALTHCHECK, WORKER_HEALTHCHECK } from './healthchecks';
import { dockerImage, hardenedContainer, RUNTIME_PLATFORM, type PrebuiltImages } from './images';
import type { PipelineLogs } from './logging';
import { grantIngress, grantWorker } from './service-grants';
import {
  addCollector,
  OTLP_HTTP_ENDPOINT,
  scheduleToStartLatency,
  WORKER_METRICS_ADDRESS,
} from './telemetry';

/**
 * How long ECS waits between SIGTERM and SIGKILL for the worker: 120 s, the most Fargate allows. The
 * worker's Temporal SDK `shutdownGraceTime` (30 s is the recommended setting) must be shorter, so that on a
 * deployment, scale-in or Spot interruption in-flight activities get their grace period and the worker
 * then closes its connection before the kill.
 */
export const WORKER_STOP_TIMEOUT = Duration.seconds(120);

/**
 * The worker's scaling target: the mean time a task of its main task queue waits for a worker slot
 * (schedule-to-start latency). Workflow tasks and the quick activities should start within milliseconds; waits
 * of seconds mean the workers cannot keep up.
 */
export const SCHEDULE_TO_START_TARGET = Duration.seconds(2);

/** The ingress finishes the messages in hand after SIGTERM: a few signalWithStart calls. */
export const INGRESS_STOP_TIMEOUT = Duration.seconds(60);

/**
 * vCPUs of a worker task, and so the threads of its inline pool (`INLINE_MAX_CONCURRENT`, set explicitly:
 * the default, the cores Node sees, is the host's and not the task's share on Fargate).
 */
export const WORKER_VCPUS = 1;
/**
 * Memory of a worker task: room for the worker itself (about 300 MiB at its peak, merging a 1 GiB file's
 * chunks: bench/README.md) and one inline run per thread, each within the processor's peak RSS bound
 * (256 MiB for the CSV jobs, 512 MiB for text-to-pdf, whatever the input: README.md), with headroom.
 */
export const WORKER_MEMORY_MIB = 2048;

/** Environment of a container: names as declared in common/config.ts, checked by the compiler. */
type Environment = Partial<Record<EnvName, string>>;

/** What the services of the cluster have in common. */
interface SharedServiceSettings {
  readonly logs: PipelineLogs;
  /** The Temporal connection, from Secrets Manager. */
  readonly secrets: Partial<Record<EnvName, ecs.Secret>>;
  /** Cluster, subnets, security group and deployment settings. */
  readonly placement: Omit<ecs.FargateServiceProps, 'taskDefinition'>;
  readonly capacityProviderStrategies: ecs.CapacityProviderStrategy[];
  readonly images?: PrebuiltImages;
}

/** What differs between them. */
export interface ServiceSpec {
  /** The process: its image, container name and log stream prefix. */
  readonly name: 'worker' | 'ingress' | 'console';
  /** Of the task role. */
  readonly description: string;
  /** Adds the calls of the process to its task role. */
  readonly grant: (role: iam.Role) => void;
  readonly cpu: number;
  readonly memoryLimitMiB: number;
  /** Plain variables; the Temporal connection comes as secrets. */
  readonly environment: Environment;
  /** Between SIGTERM and SIGKILL. */
  readonly stopTimeout: Duration;
  /** The image's health check program (infra/lib/healthchecks.ts). */
  readonly healthcheck: string;
  /** Most tasks the auto scaling may run. */
  readonly maxTasks: number;
  /**
   * Its own security group.
   * @default - the worker's and ingress's: nothing in, HTTPS and the Temporal port out
   */
  readonly securityGroup?: ec2.ISecurityGroup;
  /**
   * The TCP port it serves on.
   * @default - none: it only calls out
   */
  readonly port?: number;
}

/** Props of {@link Orchestration}. */
export interface OrchestrationProps {
  /** VPC of the services. */
  readonly vpc: ec2.IVpc;
  /** Private subnets of the services (and of the processor tasks the worker starts). */
  readonly subnets: ec2.SubnetSelection;
  /** The notification queue (`QUEUE_URL`). */
  readonly queue: sqs.IQueue;
  /** Where the worker moves permanently failed messages. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Read by the worker (HeadObject of the notified version). */
  readonly inputBucket: s3.IBucket;
  /** `OUTPUT_BUCKET`: verified by the worker, which also writes failure reports there. */
  readonly outputBucket: s3.IBucket;
  /** `DYNAMODB_TABLE`: where csv-to-dynamodb runs put their rows; the worker hands it to every processor run. */
  readonly table: dynamodb.ITable;
  /** The Batch and ECS resources the worker submits processor runs to. */
  readonly compute: ProcessorCompute;
  /** Makes the worker and ingress log groups. */
  readonly logs: PipelineLogs;
  /** Name of the Secrets Manager secret with `address`, `namespace` and (if `temporalApiKey`) `apiKey`. */
  readonly temporalSecretName: string;
  /** Whether to pass the secret's `apiKey` as TEMPORAL_API_KEY. */
  readonly temporalApiKey: boolean;
  /** Port of the Temporal frontend, allowed out of the security group. */
  readonly temporalPort: number;
  /** `TEMPORAL_TASK_QUEUE` of both processes. */
  readonly taskQueue: string;
  /** `VISIBILITY_TIMEOUT_SECONDS` of the workflows the ingress starts. */
  readonly visibilityTimeout: Duration;
  /** `COMPUTE_TIMEOUT_SECONDS` of the workflows the ingress starts. */
  readonly computeTimeout: Duration;
  /** `ECS_CAPACITY_PROVIDER` of processor tasks. */
  readonly ecsCapacityProvider: 'FARGATE' | 'FARGATE_SPOT';
  /**
   * Most worker tasks (schedule-to-start latency and CPU target tracking between 1 and this).
   * @default 4
   */
  readonly workerMaxTasks?: number;
  /**
   * Most ingress tasks (queue-depth step scaling between 1 and this).
   * @default 3
   */
  readonly ingressMaxTasks?: number;
  /**
   * `INLINE_MAX_BYTES` of the ingress: the largest file without `processor-type` that runs inline.
   * @default - the ingress's default (4 MiB, contract/defaults.ts)
   */
  readonly inlineMaxBytes?: number;
  /**
   * The images pushed to ECR by CI (the console's too).
   * @default - built by the CDK from docker/
   */
  readonly images?: PrebuiltImages;
}

/** The worker and ingress services, their roles, logs and auto scaling. */
export class Orchestration extends Construct {
  /** The cluster of the worker and ingress services (processor tasks run in their own cluster). */
  readonly cluster: ecs.Cluster;
  readonly workerService: ecs.FargateService;
  readonly ingressService: ecs.FargateService;
  readonly workerTaskRole: iam.Role;
  readonly ingressTaskRole: iam.Role;
  readonly workerLogGroup: logs.LogGroup;
  /** The worker's metrics, as the telemetry collector's EMF log events (infra/lib/telemetry.ts). */
  readonly workerMetricsLogGroup: logs.LogGroup;
  readonly ingressLogGroup: logs.LogGroup;
  /** The Temporal connection of every process, from the operator's Secrets Manager secret. */
  readonly temporalSecrets: Partial<Record<EnvName, ecs.Secret>>;
  private readonly shared: SharedServiceSettings;

  constructor(scope: Construct, id: string, props: OrchestrationProps) {
    super(scope, id);

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      enableFargateCapacityProviders: true,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Worker and ingress: HTTPS to AWS APIs and the Temporal frontend port; nothing in',
      allowAllOutbound: false,
    });
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs');
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(props.temporalPort), 'Temporal frontend');

    // The connection comes from a secret the operator creates (infra/README.md); the execution role gets
    // read access to it alone, and the values never appear in the template or the task definition.
    const temporalSecret = secretsmanager.Secret.fromSecretNameV2(
      this,
      'TemporalSecret',
      props.temporalSecretName,
    );
    const secrets: Partial<Record<EnvName, ecs.Secret>> = (this.temporalSecrets = {
      TEMPORAL_ADDRESS: ecs.Secret.fromSecretsManager(temporalSecret, 'address'),
      TEMPORAL_NAMESPACE: ecs.Secret.fromSecretsManager(temporalSecret, 'namespace'),
      ...(props.temporalApiKey
        ? { TEMPORAL_API_KEY: ecs.Secret.fromSecretsManager(temporalSecret, 'apiKey') }
        : {}),
    });
    const common: Environment = {
      AWS_REGION: Stack.of(this).region,
      TEMPORAL_TASK_QUEUE: props.taskQueue,
      LOG_LEVEL: 'info',
      // Spans to the task's collector, which sends them to X-Ray (infra/lib/telemetry.ts).
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://${OTLP_HTTP_ENDPOINT}`,
    };
    const placement = {
      cluster: this.cluster,
      vpcSubnets: props.subnets,
      securityGroups: [securityGroup],
      assignPublicIp: false,
      // A deployment whose new tasks never turn healthy rolls back by itself.
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
    };
    // One task always on on-demand Fargate; the rest may use Spot (the worker and ingress tolerate the
    // two-minute interruption notice: it is a SIGTERM, handled like a deployment).
    const capacityProviderStrategies = [
      { capacityProvider: 'FARGATE', base: 1, weight: 1 },
      { capacityProvider: 'FARGATE_SPOT', weight: 1 },
    ];

    this.shared = {
      logs: props.logs,
      secrets,
      placement,
      capacityProviderStrategies,
      ...(props.images ? { images: props.images } : {}),
    };

    const worker = this.addService({
      name: 'worker',
      description:
        'Temporal worker: S3 checks, SQS acknowledgements, Batch jobs and ECS tasks of the processor, inline processor runs',
      grant: (role) => grantWorker(role, props),
      cpu: WORKER_VCPUS * 1024,
      memoryLimitMiB: WORKER_MEMORY_MIB,
      environment: { ...common, ...workerEnvironment(props) },
      stopTimeout: WORKER_STOP_TIMEOUT,
      healthcheck: WORKER_HEALTHCHECK,
      maxTasks: props.workerMaxTasks ?? 4,
    });
    ({ role: this.workerTaskRole, logGroup: this.workerLogGroup, service: this.workerService } = worker);
    this.workerMetricsLogGroup = props.logs.logGroup(this, 'WorkerMetricsLogs');
    addCollector(this, 'Worker', worker.task, {
      logGroup: worker.logGroup,
      metricsLogGroup: this.workerMetricsLogGroup,
    });
    scaleWorker(worker.scaling, props.taskQueue);

    const ingress = this.addService({
      name: 'ingress',
      description: 'Ingress: receive, delete and re-publish messages of the notification queue, nothing else',
      grant: (role) => grantIngress(role, props),
      cpu: 256,
      // The ingress, and its telemetry collector (256 MiB at most).
      memoryLimitMiB: 1024,
      environment: {
        ...common,
        QUEUE_URL: props.queue.queueUrl,
        INPUT_BUCKETS: props.inputBucket.bucketName,
        INGRESS_WAIT_SECONDS: '20',
        VISIBILITY_TIMEOUT_SECONDS: String(props.visibilityTimeout.toSeconds()),
        COMPUTE_TIMEOUT_SECONDS: String(props.computeTimeout.toSeconds()),
        ...(props.inlineMaxBytes === undefined ? {} : { INLINE_MAX_BYTES: String(props.inlineMaxBytes) }),
      },
      stopTimeout: INGRESS_STOP_TIMEOUT,
      healthcheck: INGRESS_HEALTHCHECK,
      maxTasks: props.ingressMaxTasks ?? 3,
    });
    ({ role: this.ingressTaskRole, logGroup: this.ingressLogGroup, service: this.ingressService } = ingress);
    addCollector(this, 'Ingress', ingress.task, { logGroup: ingress.logGroup });
    // One ingress hands over ~10 messages per receive; a backlog means it cannot keep up. Never below one
    // task: someone must poll.
    ingress.scaling.scaleOnMetric('QueueDepth', {
      metric: props.queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: 100, change: -1 },
        { lower: 1000, change: +1 },
        { lower: 10000, change: +2 },
      ],
      cooldown: Duration.minutes(3),
    });
  }

  /**
   * A service of the cluster: its task role (granted by `spec.grant`), log group, task definition and
   * hardened container, the Fargate service and its task count between 1 and `spec.maxTasks`.
   */
  addService(spec: ServiceSpec) {
    const { shared } = this;
    const id = spec.name[0]!.toUpperCase() + spec.name.slice(1);
    const role = new iam.Role(this, `${id}TaskRole`, {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: spec.description,
    });
    spec.grant(role);
    const logGroup = shared.logs.logGroup(this, `${id}Logs`);
    const task = new ecs.FargateTaskDefinition(this, `${id}Task`, {
      cpu: spec.cpu,
      memoryLimitMiB: spec.memoryLimitMiB,
      taskRole: role,
      runtimePlatform: RUNTIME_PLATFORM,
    });
    task.addContainer(spec.name, {
      containerName: spec.name,
      image: dockerImage(this, spec.name, shared.images),
      environment: spec.environment,
      secrets: shared.secrets,
      logging: ecs.LogDriver.awsLogs({ logGroup, streamPrefix: spec.name }),
      stopTimeout: spec.stopTimeout,
      healthCheck: healthCheck(spec.healthcheck),
      ...(spec.port ? { portMappings: [{ containerPort: spec.port }] } : {}),
      ...hardenedContainer(this, `${id}LinuxParameters`),
    });
    const service = new ecs.FargateService(this, `${id}Service`, {
      ...shared.placement,
      ...(spec.securityGroup ? { securityGroups: [spec.securityGroup] } : {}),
      taskDefinition: task,
      capacityProviderStrategies: shared.capacityProviderStrategies,
    });
    // On the whole cluster construct, which includes its capacity-provider association (added at synthesis):
    // a service created before the association fails with "capacity provider not associated", and one
    // deleted after it hangs the stack deletion.
    service.node.addDependency(this.cluster);
    const scaling = service.autoScaleTaskCount({ minCapacity: 1, maxCapacity: spec.maxTasks });
    NagSuppressions.addResourceSuppressions(task, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'The plain environment variables are resource names and tunables the stack created (queue URL, bucket, job queue, subnets); the Temporal connection comes from Secrets Manager.',
      },
    ]);
    NagSuppressions.addResourceSuppressions(
      task.obtainExecutionRole(),
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ecr:GetAuthorizationToken supports no resource-level permission (Resource "*"); image pulls, log writes and the secret read are scoped to their resources.',
          appliesTo: ['Resource::*'],
        },
      ],
      true,
    );
    return { role, logGroup, task, service, scaling };
  }
}

/** The worker's plain variables besides the common ones: aws mode, on the processor resources of the stack. */
function workerEnvironment(props: OrchestrationProps): Environment {
  const { compute } = props;
  return {
    COMPUTE_MODE: 'aws',
    OUTPUT_BUCKET: props.outputBucket.bucketName,
    DYNAMODB_TABLE: props.table.tableName,
    BATCH_JOB_QUEUE: compute.jobQueue.jobQueueArn,
    BATCH_JOB_DEFINITION: compute.jobDefinition.jobDefinitionArn,
    ECS_CLUSTER: compute.cluster.clusterName,
    ECS_TASK_DEFINITION: compute.taskDefinition.taskDefinitionArn,
    ECS_CONTAINER_NAME: PROCESSOR_CONTAINER,
    ECS_CAPACITY_PROVIDER: props.ecsCapacityProvider,
    ECS_SUBNETS: Fn.join(',', props.vpc.selectSubnets(props.subnets).subnetIds),
    ECS_SECURITY_GROUPS: compute.securityGroup.securityGroupId,
    // One inline run per vCPU of the task, next to the workflows and activities the worker also serves.
    INLINE_MAX_CONCURRENT: String(WORKER_VCPUS),
    // Loopback only: the telemetry collector in the same task scrapes it (infra/lib/telemetry.ts).
    METRICS_ADDRESS: WORKER_METRICS_ADDRESS,
  };
}

/**
 * Scales the worker on its real load: the schedule-to-start latency of its main task queue, the larger of the
 * workflow tasks' and the activities' per-minute means, tracked at {@link SCHEDULE_TO_START_TARGET}. It rises
 * when tasks wait for a worker slot, whatever keeps the slots busy, and falls as workers are added. A minute
 * without tasks publishes no data point; FILL(…, 0) reads it as no wait, so an idle pipeline scales back in
 * (target tracking leaves the count alone on missing data). Target tracking in CDK takes one metric, so the
 * metric math is set on the policy itself.
 *
 * CPU stays as a second policy (scale-out when either asks, scale-in only when both agree): the inline runs
 * have their own task queue, are CPU on the worker's threads, and their wait is not in the signal above; and
 * if the collector is down, the latency policy has no data and CPU still scales.
 */
function scaleWorker(scaling: ecs.ScalableTaskCount, taskQueue: string): void {
  scaling.scaleToTrackCustomMetric('ScheduleToStart', {
    metric: scheduleToStartLatency('activity', taskQueue),
    targetValue: SCHEDULE_TO_START_TARGET.toMilliseconds(),
    scaleOutCooldown: Duration.minutes(1),
    scaleInCooldown: Duration.minutes(5),
  });
  // The policy is a child of the scalable target ('Target') the task count wraps.
  const policy = scaling.node.findChild('Target').node.findChild('ScheduleToStart');
  const cfn = policy.node.defaultChild as appscaling.CfnScalingPolicy;
  const spec = 'TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification';
  for (const key of ['MetricName', 'Namespace', 'Dimensions', 'Statistic']) {
    cfn.addPropertyDeletionOverride(`${spec}.${key}`);
  }
  const query = (id: string, metric: ReturnType<typeof scheduleToStartLatency>) => {
    const { metricStat } = metric.toMetricConfig();
    return {
      Id: id,
      MetricStat: {
        Metric: {
          Namespace: metricStat!.namespace,
          MetricName: metricStat!.metricName,
          Dimensions: metricStat!.dimensions?.map((d) => ({ Name: d.name, Value: d.value as string })),
        },
        Stat: metricStat!.statistic,
      },
      ReturnData: false,
    };
  };
  cfn.addPropertyOverride(`${spec}.Metrics`, [
    query('workflowTasks', scheduleToStartLatency('workflow_task', taskQueue)),
    query('activities', scheduleToStartLatency('activity', taskQueue)),
    {
      Id: 'wait',
      Expression: 'MAX([FILL(workflowTasks, 0), FILL(activities, 0)])',
      Label: `schedule-to-start latency of ${taskQueue} (ms)`,
      ReturnData: true,
    },
  ]);
  scaling.scaleOnCpuUtilization('Cpu', {
    targetUtilizationPercent: 60,
    scaleInCooldown: Duration.minutes(5),
    scaleOutCooldown: Duration.minutes(1),
  });
}

/** An ECS container health check running `node -e SCRIPT`, with the Dockerfiles' timing. */
function healthCheck(script: string): ecs.HealthCheck {
  return {
    command: ['CMD', 'node', '-e', script],
    interval: Duration.seconds(HEALTHCHECK_TIMING.intervalSeconds),
    timeout: Duration.seconds(HEALTHCHECK_TIMING.timeoutSeconds),
    startPeriod: Duration.seconds(HEALTHCHECK_TIMING.startPeriodSeconds),
    retries: HEALTHCHECK_TIMING.retries,
  };
}
