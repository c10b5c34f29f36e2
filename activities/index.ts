/** All activities of the `processFile` workflow, built from injected clients. */
import { createComputeActivities, type ComputeDeps } from './compute';
import { createObjectActivities, type ObjectDeps } from './objects';
import { createQueueActivities, type QueueDeps } from './queue';
import { createReportActivities } from './reports';
import { createStagingActivities } from './staging';

export type ActivityDeps = ObjectDeps & QueueDeps & ComputeDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createObjectActivities(deps),
    ...createStagingActivities(deps),
    ...createReportActivities(deps),
    ...createQueueActivities(deps),
    ...createComputeActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
