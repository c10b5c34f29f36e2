/**
 * The activity proxies of the file's workflow, by how long their calls take, and the two retry policies
 * they use. The compute activity has its own (run-processor.ts): its failures are counted apart.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { INTERRUPTED_ATTEMPTS } from './run-processor';

/** Requests of a few seconds: retried soon, for about four minutes in all. */
export const QUICK_RETRY = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 8,
};
const LONG_RETRY = {
  initialInterval: '5 seconds',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  // Mostly a crashed worker (the heartbeat stops): the scan or the merge starts again.
  maximumAttempts: INTERRUPTED_ATTEMPTS,
};

/** One S3 HeadObject, and the SQS calls: seconds each. */
export const quick = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: QUICK_RETRY });
/** The plan's scan and the chunks' merge heartbeat as they stream: a crashed worker is noticed in minutes. */
export const streaming = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: LONG_RETRY,
});
/** Reads and deletes of many small staging objects: they do not heartbeat. */
export const bulk = proxyActivities<Activities>({ startToCloseTimeout: '10 minutes', retry: LONG_RETRY });
/** Verify, report, acknowledge: a few requests. */
export const finishing = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: QUICK_RETRY,
});

/** `1 message`, `3 messages`: for activity summaries. */
export const messageCount = (n: number): string => `${n} message${n === 1 ? '' : 's'}`;
