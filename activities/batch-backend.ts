/** AWS Batch backend: SubmitJob to the (Fargate Spot) job queue, then DescribeJobs until it ends. */
import {
  DescribeJobsCommand,
  SubmitJobCommand,
  TerminateJobCommand,
  type BatchClient,
  type JobDetail,
} from '@aws-sdk/client-batch';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../contract/failures';
import { workerStopReason } from '../contract/stop-reasons';
import { submitJobRequest, type BatchSettings } from './aws-requests';
import type { Backend, RunHandle, ProcessorOutcome, ProcessorRun } from './compute';

export interface BatchBackendOptions extends BatchSettings {
  batch: BatchClient;
  /** Seconds between DescribeJobs calls. */
  pollSeconds: number;
  /** A job RUNNABLE (waiting for capacity) longer than this is terminated and rerouted to ECS. */
  runnableTimeoutSeconds: number;
}

const BACKEND = 'batch';

/** How a finished job ended, from its DescribeJobs detail. */
export function batchOutcome(job: JobDetail, handle: RunHandle): ProcessorOutcome {
  const attempt = job.attempts?.at(-1);
  const container = attempt?.container ?? job.container;
  const logRef = container?.logStreamName
    ? `log stream ${container.logStreamName}`
    : `Batch job ${handle.id}`;
  const detail = [
    job.statusReason && `status reason: ${job.statusReason}`,
    attempt?.statusReason && attempt.statusReason !== job.statusReason && `attempt: ${attempt.statusReason}`,
    container?.reason && `container: ${container.reason}`,
  ]
    .filter(Boolean)
    .join('; ');
  return {
    handle,
    succeeded: job.status === 'SUCCEEDED',
    ...(container?.exitCode !== undefined ? { exitCode: container.exitCode } : {}),
    detail,
    logRef,
  };
}

export function createBatchBackend(o: BatchBackendOptions): Backend {
  const describe = async (jobId: string) =>
    (await o.batch.send(new DescribeJobsCommand({ jobs: [jobId] }))).jobs?.[0];
  // Prefixed, so that the job's FAILED event is routed as the worker's own stop (infra/lib/paging.ts).
  const terminate = (jobId: string, why: string) =>
    o.batch.send(new TerminateJobCommand({ jobId, reason: workerStopReason(why) }));

  /** The job of an earlier attempt, if it is still worth waiting for (not failed, not gone). */
  async function resumable(resume: RunHandle | undefined): Promise<string | undefined> {
    if (!resume) return undefined;
    const job = await describe(resume.id);
    return job && job.status !== 'FAILED' ? resume.id : undefined;
  }

  return {
    name: BACKEND,
    request: (run) => submitJobRequest(o, run),

    async run(run: ProcessorRun): Promise<ProcessorOutcome> {
      let jobId = await resumable(run.resume);
      if (!jobId) {
        const submitted = await o.batch.send(new SubmitJobCommand(submitJobRequest(o, run)));
        jobId = submitted.jobId!;
      }
      const handle = { backend: BACKEND, id: jobId };
      run.heartbeat({ ...handle, status: 'SUBMITTED' });
      let runnableSince: number | undefined;
      try {
        for (;;) {
          const job = await describe(jobId);
          if (!job) throw new Error(`Batch job ${jobId} is no longer known to AWS Batch`);
          const status = job.status ?? 'UNKNOWN';
          run.heartbeat({ ...handle, status });
          if (status === 'SUCCEEDED' || status === 'FAILED') return batchOutcome(job, handle);
          runnableSince = status === 'RUNNABLE' ? (runnableSince ?? Date.now()) : undefined;
          if (runnableSince !== undefined && Date.now() - runnableSince > o.runnableTimeoutSeconds * 1000) {
            const reason = `no capacity: RUNNABLE for more than ${o.runnableTimeoutSeconds}s on ${o.jobQueue}`;
            await terminate(jobId, reason);
            throw ApplicationFailure.create({
              message: `Batch job ${jobId} ${reason}; rerouting to ECS`,
              type: FailureType.capacityUnavailable,
              nonRetryable: true,
            });
          }
          await run.sleep(o.pollSeconds * 1000);
        }
      } catch (err) {
        if (run.signal.aborted && run.stopRunOnAbort())
          await terminate(jobId, 'cancelled by its Temporal workflow');
        throw err;
      }
    },
  };
}
