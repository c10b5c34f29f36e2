/**
 * `reprocess`: every object under a prefix of an input bucket, again. It lists the latest object versions page
 * by page and starts a `processFile` child for each, a few at a time, under the workflow ID the notification
 * path gives that version: a version already processed successfully, or being processed, is skipped, a failed
 * one is rerun. `force` uses IDs of its own instead, so that every object runs again.
 *
 * Histories stay small whatever the number of objects: each run of the workflow takes one page (its children
 * drained), then continues as new with the listing cursor and the counts, or earlier with the files of the page
 * left when Temporal suggests it. Children are abandoned, never cancelled: a cancel stops the starting of new
 * files only.
 */
import {
  CancellationScope,
  ChildWorkflowCancellationType,
  continueAsNew,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  forcedWorkflowId,
  REPROCESS_DEFAULTS,
  reprocessProgressQuery,
  type FileToReprocess,
  type ReprocessInput,
  type ReprocessProgress,
  type ReprocessStage,
} from '../contract/reprocess';
import { fileStartOptions, SA } from '../contract/workflow';
import { processFile } from './process-file';

/** One ListObjectVersions request: seconds. */
const listing = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 8,
  },
});

/** Search-attribute updates per page at most, besides the first and the last: each is an event of the history. */
const UPDATES_PER_PAGE = 10;

export async function reprocess(input: ReprocessInput): Promise<ReprocessProgress> {
  const concurrency = input.concurrency ?? REPROCESS_DEFAULTS.concurrency;
  const pageSize = input.pageSize ?? REPROCESS_DEFAULTS.pageSize;
  const progress: ReprocessProgress = {
    stage: 'listing',
    bucket: input.bucket,
    prefix: input.prefix,
    force: input.force ?? false,
    listed: 0,
    started: 0,
    skipped: 0,
    succeeded: 0,
    failed: 0,
    ...input.counts,
    inFlight: 0,
    listingDone: input.listingDone ?? false,
    cancelled: false,
  };
  setHandler(reprocessProgressQuery, () => progress);
  const publish = (stage: ReprocessStage) => {
    progress.stage = stage;
    upsertSearchAttributes([
      { key: SA.bucket, value: input.bucket },
      { key: SA.stage, value: stage },
      { key: SA.itemsTotal, value: progress.listed },
      { key: SA.itemsStarted, value: progress.started },
      { key: SA.itemsSkipped, value: progress.skipped },
      { key: SA.itemsDone, value: progress.succeeded },
      { key: SA.itemsFailed, value: progress.failed },
    ]);
  };

  let cursor = input.cursor;
  let files: FileToReprocess[] = input.pending ?? [];
  try {
    if (files.length === 0 && !progress.listingDone) {
      publish('listing');
      const page = await listing.listObjectPage({
        bucket: input.bucket,
        prefix: input.prefix,
        pageSize,
        cursor,
      });
      files = page.files;
      cursor = page.next;
      progress.listed += files.length;
      progress.listingDone = !page.next;
    }
    publish('running');
    files = await runFiles(files, input, concurrency, progress, () => publish('running'));
  } catch (err) {
    if (!isCancellation(err)) throw err;
    progress.cancelled = true;
    publish('cancelled');
    throw err;
  }
  if (files.length > 0 || !progress.listingDone) {
    const { listed, started, skipped, succeeded, failed } = progress;
    return continueAsNew<typeof reprocess>({
      ...input,
      ...(cursor ? { cursor } : {}),
      listingDone: progress.listingDone,
      pending: files,
      counts: { listed, started, skipped, succeeded, failed },
    });
  }
  publish('done');
  return progress;
}

/**
 * Starts a processFile child for each file, `concurrency` at a time, and waits for those it started. Stops
 * starting when Temporal suggests continuing as new; returns the files it did not start.
 */
async function runFiles(
  files: FileToReprocess[],
  input: ReprocessInput,
  concurrency: number,
  progress: ReprocessProgress,
  publish: () => void,
): Promise<FileToReprocess[]> {
  const queue = [...files];
  const { workflowId } = workflowInfo();
  const every = Math.max(1, Math.ceil(files.length / UPDATES_PER_PAGE));
  let sincePublished = 0;
  const settled = () => {
    if (++sincePublished < every) return;
    sincePublished = 0;
    publish();
  };
  const lane = async () => {
    while (queue.length > 0 && !workflowInfo().continueAsNewSuggested) {
      const file = queue.shift()!;
      let child;
      try {
        child = await startChild(processFile, {
          workflowId: input.force ? forcedWorkflowId(workflowId, file.workflowId) : file.workflowId,
          args: [{ object: file.object, ...(input.options ? { options: input.options } : {}) }],
          // As the ingress does: a version that succeeded is never rerun, a failed one may be.
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          // The runs belong to their files, not to this one: a cancel, or the end of this run, leaves them be.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          cancellationType: ChildWorkflowCancellationType.ABANDON,
          ...fileStartOptions(file.object, `reprocess run ${workflowId}`),
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        progress.skipped++;
        settled();
        continue;
      }
      progress.started++;
      progress.inFlight++;
      try {
        await child.result();
        progress.succeeded++;
      } catch (err) {
        // This run cancelled: the child goes on, abandoned, and stays counted in flight. A child cancelled by
        // someone else is a failed run.
        if (isCancellation(err) && CancellationScope.current().consideredCancelled) throw err;
        progress.failed++;
      }
      progress.inFlight--;
      settled();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, lane));
  return queue;
}
