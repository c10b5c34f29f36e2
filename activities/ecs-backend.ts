/** ECS backend: RunTask on Fargate (or Fargate Spot) in private subnets, then DescribeTasks until STOPPED. */
import {
  DescribeTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ECSClient,
  type Task,
} from '@aws-sdk/client-ecs';
import { workerStopReason } from '../contract/stop-reasons';
import { runTaskRequest, type EcsSettings } from './aws-requests';
import type { Backend, RunHandle, ProcessorOutcome, ProcessorRun } from './compute';

export interface EcsBackendOptions extends EcsSettings {
  ecs: ECSClient;
  /** Seconds between DescribeTasks calls. */
  pollSeconds: number;
}

const BACKEND = 'ecs';

/**
 * How a stopped task ended. Success needs the processor container to exit 0 and the task to stop because
 * that container exited; a stop for any other reason (StopTask, Spot interruption, failed start) is a
 * failure even if the container reports 0. Emulators that give no stop code count only a stop without a
 * reason as clean.
 */
export function ecsOutcome(task: Task, containerName: string, handle: RunHandle): ProcessorOutcome {
  const container = task.containers?.find((c) => c.name === containerName) ?? task.containers?.[0];
  const cleanStop = task.stopCode ? task.stopCode === 'EssentialContainerExited' : !task.stoppedReason;
  const exitCode = container?.exitCode ?? undefined;
  const detail = [
    task.stopCode && `stop code ${task.stopCode}`,
    task.stoppedReason && `stopped reason: ${task.stoppedReason}`,
    container?.reason && `container ${container.name}: ${container.reason}`,
  ]
    .filter(Boolean)
    .join('; ');
  return {
    handle,
    succeeded: cleanStop && exitCode === 0,
    ...(exitCode !== undefined ? { exitCode } : {}),
    detail,
    logRef: `ECS task ${handle.id}`,
  };
}

export function createEcsBackend(o: EcsBackendOptions): Backend {
  const describe = async (taskArn: string) =>
    (await o.ecs.send(new DescribeTasksCommand({ cluster: o.cluster, tasks: [taskArn] }))).tasks?.[0];

  async function resumable(resume: RunHandle | undefined): Promise<string | undefined> {
    if (!resume) return undefined;
    const task = await describe(resume.id);
    if (!task) return undefined;
    return task.lastStatus !== 'STOPPED' || ecsOutcome(task, o.containerName, resume).succeeded
      ? resume.id
      : undefined;
  }

  return {
    name: BACKEND,
    request: (run) => runTaskRequest(o, run),

    async run(run: ProcessorRun): Promise<ProcessorOutcome> {
      if (o.subnets.length === 0 || o.securityGroups.length === 0) {
        throw new Error(
          'ECS_SUBNETS and ECS_SECURITY_GROUPS must name the private subnets and security groups of processor tasks',
        );
      }
      let taskArn = await resumable(run.resume);
      if (!taskArn) {
        const out = await o.ecs.send(new RunTaskCommand(runTaskRequest(o, run)));
        const started = out.tasks?.[0]?.taskArn;
        if (!started) {
          const reasons = (out.failures ?? []).map((f) =>
            `${f.arn ?? ''} ${f.reason ?? ''} ${f.detail ?? ''}`.trim(),
          );
          throw new Error(
            `RunTask started no task on ${o.cluster}: ${reasons.join('; ') || 'no reason given'}`,
          );
        }
        taskArn = started;
      }
      const handle = { backend: BACKEND, id: taskArn };
      run.heartbeat({ ...handle, status: 'PROVISIONING' });
      try {
        for (;;) {
          const task = await describe(taskArn);
          if (!task) throw new Error(`ECS task ${taskArn} is no longer known to cluster ${o.cluster}`);
          const status = task.lastStatus ?? 'UNKNOWN';
          run.heartbeat({ ...handle, status });
          if (status === 'STOPPED') return ecsOutcome(task, o.containerName, handle);
          await run.sleep(o.pollSeconds * 1000);
        }
      } catch (err) {
        if (run.signal.aborted && run.stopRunOnAbort()) {
          await o.ecs.send(
            new StopTaskCommand({
              cluster: o.cluster,
              task: taskArn,
              // Prefixed, so that the task's STOPPED event is routed as the worker's own stop (infra/lib/paging.ts).
              reason: workerStopReason('cancelled by its Temporal workflow'),
            }),
          );
        }
        throw err;
      }
    },
  };
}
