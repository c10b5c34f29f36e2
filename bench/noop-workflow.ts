/**
 * The floor of `npm run bench:burst`: a workflow that runs `steps` no-op activities one after the other, so that
 * its histories have as many activities as a `processFile` of the burst and nothing else. Loaded by the bench's
 * own worker (workflowsPath); nothing in the product imports bench/.
 */
import { proxyActivities } from '@temporalio/workflow';

export interface NoopActivities {
  noop(): Promise<void>;
}

const { noop } = proxyActivities<NoopActivities>({ startToCloseTimeout: '30 seconds' });

export async function noopWorkflow(steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) await noop();
}
