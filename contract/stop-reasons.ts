/**
 * The reason the worker gives AWS whenever it stops a processor run itself: TerminateJob when a Batch job
 * found no capacity (the file is rerouted to ECS) or its workflow was cancelled, StopTask when an ECS run's
 * workflow was cancelled. AWS reports it back as the Batch job's `statusReason` and the ECS task's
 * `stoppedReason`, and infra/lib/paging.ts routes those events by this prefix to the events topic rather than
 * the pager: the worker knows about these stops, and Temporal carries on with the file. Sharing the constant
 * keeps the activity and the event patterns from drifting apart.
 */
import { PIPELINE_NAME } from './defaults';

/** Every reason the worker stops a run with starts with this. */
export const WORKER_STOP_REASON_PREFIX = `${PIPELINE_NAME} worker: `;

/** Batch's TerminateJob and ECS's StopTask take reasons of at most 1024 and 255 characters. */
const MAX_REASON_LENGTH = 250;

/** The reason the worker gives for stopping a run, `why` after the prefix (cut to fit both APIs). */
export function workerStopReason(why: string): string {
  return `${WORKER_STOP_REASON_PREFIX}${why}`.slice(0, MAX_REASON_LENGTH);
}
