/**
 * The exact SubmitJob and RunTask inputs of a processor run. The Batch and ECS backends send them; the
 * local backend records them, so a local run shows what AWS would receive.
 */
import type { SubmitJobCommandInput } from '@aws-sdk/client-batch';
import type { RunTaskCommandInput } from '@aws-sdk/client-ecs';
import { JOB_TAGS } from '../contract/jobs';
import type { ProcessorRun } from './compute';

export interface BatchSettings {
  jobQueue: string;
  jobDefinition: string;
}

export interface EcsSettings {
  cluster: string;
  taskDefinition: string;
  /** The processor container, whose exit code decides success. */
  containerName: string;
  capacityProvider: 'FARGATE' | 'FARGATE_SPOT';
  subnets: string[];
  securityGroups: string[];
}

const environmentList = (env: Record<string, string>) =>
  Object.entries(env).map(([name, value]) => ({ name, value }));

export function submitJobRequest(s: BatchSettings, run: ProcessorRun): SubmitJobCommandInput {
  return {
    jobName: run.jobName,
    jobQueue: s.jobQueue,
    jobDefinition: s.jobDefinition,
    containerOverrides: { environment: environmentList(run.environment) },
    tags: { ...run.tags, [JOB_TAGS.jobQueue]: s.jobQueue },
    propagateTags: true,
  };
}

export function runTaskRequest(s: EcsSettings, run: ProcessorRun): RunTaskCommandInput {
  return {
    cluster: s.cluster,
    taskDefinition: s.taskDefinition,
    count: 1,
    capacityProviderStrategy: [{ capacityProvider: s.capacityProvider, weight: 1 }],
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: s.subnets,
        securityGroups: s.securityGroups,
        assignPublicIp: 'DISABLED',
      },
    },
    overrides: {
      containerOverrides: [{ name: s.containerName, environment: environmentList(run.environment) }],
    },
    startedBy: run.startedBy,
    tags: Object.entries(run.tags).map(([key, value]) => ({ key, value })),
    propagateTags: 'TASK_DEFINITION',
    clientToken: run.clientToken,
  };
}
