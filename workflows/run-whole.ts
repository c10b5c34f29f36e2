/** Run whole: one processor run of the whole file on its route; a Batch run out of capacity goes to ECS. */
import type { ComputeResult } from '../activities/compute';
import { statsKeyFor } from '../contract/layout';
import { type ProcessFileOptions } from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { failureOf } from './failures';
import { checkRows, wholeRunOutcome, type RunOutcome } from './file-report';
import type { FileStatus } from './file-status';
import type { InspectedFile } from './inspection';
import { isCsvJob } from '../contract/jobs';
import { computeActivities } from './run-processor';

export async function runWhole(
  file: InspectedFile,
  options: ProcessFileOptions,
  status: FileStatus,
): Promise<RunOutcome> {
  status.stage('processing');
  const compute = computeActivities(options);
  // Batch and ECS containers cannot hand back their statistics: they leave them in the output bucket.
  const statsKey = file.route === 'inline' ? undefined : statsKeyFor(file.destinationKey);
  const request = {
    job: file.job,
    source: file.source,
    destinationKey: file.destinationKey,
    processedAt: file.processedAt,
    ...(file.delimiter ? { delimiter: file.delimiter } : {}),
    ...(file.schema ? { schema: file.schema } : {}),
    ...(statsKey ? { statsKey } : {}),
  };
  const started = Date.now();
  let rerouted: string | undefined;
  let run: ComputeResult;
  try {
    run = await compute.runProcessor({ ...request, route: file.route });
  } catch (err) {
    // Batch on Spot can wait for capacity for hours: the backend gave up on it, so ECS takes the file.
    if (failureOf(err).type !== FailureType.capacityUnavailable) throw err;
    rerouted = failureOf(err).message;
    status.set({ rerouted });
    run = await compute.runProcessor({ ...request, route: 'ecs' });
  }
  const summary = run.summary!;
  status.set({
    backend: run.backend,
    awsRequest: run.awsRequest,
    output: `s3://${run.destination.bucket}/${run.destination.key}`,
  });
  if (isCsvJob(file.job)) checkRows(summary, undefined);
  return wholeRunOutcome(file, run, { seconds: (Date.now() - started) / 1000, rerouted, statsKey });
}
