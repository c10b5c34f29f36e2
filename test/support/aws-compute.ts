/**
 * What the CDK app creates for the compute backends, created in moto: a Fargate Spot compute environment,
 * job queue and job definition; an ECS cluster with Fargate capacity providers and the processor task
 * definition. moto's Batch runs nothing without Docker, so its simple mode (jobs end at once) is switched on
 * through moto's `/moto-api/config` endpoint.
 */
import {
  CreateComputeEnvironmentCommand,
  CreateJobQueueCommand,
  RegisterJobDefinitionCommand,
} from '@aws-sdk/client-batch';
import { DescribeSecurityGroupsCommand, DescribeSubnetsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateClusterCommand, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import type { BackendSettings } from '../../activities/backends';
import type { Stack } from '../../scripts/stack';

const IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/file-pipeline-processor:latest';
const CONTAINER = 'processor';

/** The names of the compute resources created in moto (the permission proof binds the template's to them). */
export const LOCAL_COMPUTE = {
  jobQueue: 'file-pipeline-spot',
  jobDefinition: 'file-pipeline-processor',
  cluster: 'file-pipeline',
  taskDefinition: 'file-pipeline-processor',
} as const;

async function motoApi(stack: Stack, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${stack.awsEndpoint}/moto-api/${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`moto-api ${path}: ${res.status} ${await res.text()}`);
}

/** ECS tasks in moto advance one state per DescribeTasks by default; `hold` keeps them RUNNING until `release`. */
export const ecsTasks = {
  hold: (stack: Stack) =>
    motoApi(stack, 'state-manager/set-transition', {
      model_name: 'ecs::task',
      transition: { progression: 'manual', times: 1_000_000 },
    }),
  release: (stack: Stack) =>
    motoApi(stack, 'state-manager/set-transition', {
      model_name: 'ecs::task',
      transition: { progression: 'immediate' },
    }),
};

/**
 * moto's Batch in its simple mode ends every job within SubmitJob. `hold` switches to its full mode, where a
 * job (which can never run there: no Docker) stays SUBMITTED while `batch::job` transitions are held, so that
 * a test can act on a job still in progress; `release` goes back to the simple mode.
 */
export const batchJobs = {
  hold: async (stack: Stack) => {
    await motoApi(stack, 'config', { batch: { use_docker: true } });
    await motoApi(stack, 'state-manager/set-transition', {
      model_name: 'batch::job',
      transition: { progression: 'manual', times: 1_000_000 },
    });
  },
  release: async (stack: Stack) => {
    await motoApi(stack, 'state-manager/set-transition', {
      model_name: 'batch::job',
      transition: { progression: 'immediate' },
    });
    await motoApi(stack, 'config', { batch: { use_docker: false } });
  },
};

/** Provisions the compute side in moto; returns the backend settings of a worker in aws mode. */
export async function provisionCompute(stack: Stack): Promise<BackendSettings> {
  await motoApi(stack, 'config', { batch: { use_docker: false } });
  const ec2 = new EC2Client({ region: stack.region, endpoint: stack.awsEndpoint });
  const subnets = ((await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? [])
    .map((s) => s.SubnetId!)
    .slice(0, 2);
  const securityGroups = ((await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? [])
    .map((g) => g.GroupId!)
    .slice(0, 1);
  ec2.destroy();

  const iam = new IAMClient({ region: stack.region, endpoint: stack.awsEndpoint });
  const role = await iam.send(
    new CreateRoleCommand({
      RoleName: 'file-pipeline-batch-service',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'batch.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      }),
    }),
  );
  iam.destroy();

  const { batch, ecs } = stack.aws;
  const environment = await batch.send(
    new CreateComputeEnvironmentCommand({
      computeEnvironmentName: 'file-pipeline-fargate-spot',
      type: 'MANAGED',
      state: 'ENABLED',
      serviceRole: role.Role!.Arn!,
      computeResources: { type: 'FARGATE_SPOT', maxvCpus: 16, subnets, securityGroupIds: securityGroups },
    }),
  );
  const queue = await batch.send(
    new CreateJobQueueCommand({
      jobQueueName: LOCAL_COMPUTE.jobQueue,
      state: 'ENABLED',
      priority: 1,
      computeEnvironmentOrder: [{ order: 1, computeEnvironment: environment.computeEnvironmentArn! }],
    }),
  );
  const definition = await batch.send(
    new RegisterJobDefinitionCommand({
      jobDefinitionName: LOCAL_COMPUTE.jobDefinition,
      type: 'container',
      platformCapabilities: ['FARGATE'],
      containerProperties: {
        image: IMAGE,
        command: ['node', 'dist/processors/main.js'],
        resourceRequirements: [
          { type: 'VCPU', value: '1' },
          { type: 'MEMORY', value: '2048' },
        ],
        executionRoleArn: 'arn:aws:iam::123456789012:role/file-pipeline-execution',
        networkConfiguration: { assignPublicIp: 'DISABLED' },
      },
    }),
  );
  await ecs.send(
    new CreateClusterCommand({
      clusterName: LOCAL_COMPUTE.cluster,
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
    }),
  );
  const task = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: LOCAL_COMPUTE.taskDefinition,
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '1024',
      memory: '2048',
      // moto's RunTask needs a container-level memory.
      containerDefinitions: [{ name: CONTAINER, image: IMAGE, memory: 2048, essential: true }],
    }),
  );
  return {
    mode: 'aws',
    batch: {
      jobQueue: queue.jobQueueArn!,
      jobDefinition: definition.jobDefinitionArn!,
      runnableTimeoutSeconds: 60,
    },
    ecs: {
      cluster: LOCAL_COMPUTE.cluster,
      taskDefinition: task.taskDefinition!.taskDefinitionArn!,
      containerName: CONTAINER,
      capacityProvider: 'FARGATE_SPOT',
      subnets,
      securityGroups,
    },
    pollSeconds: 0.1,
    heartbeatSeconds: 1,
  };
}
