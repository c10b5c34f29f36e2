/** All activities of the `processFile` workflow, built from injected clients. */
import { createChunkActivities } from './staging';
import { createComputeActivities, type ComputeDeps } from './compute';
import { createQueueActivities, type QueueDeps } from './queue';
import { createStorageActivities, type StorageDeps } from './objects';

export type ActivityDeps = StorageDeps & QueueDeps & ComputeDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createStorageActivities(deps),
    ...createChunkActivities(deps),
    ...createQueueActivities(deps),
    ...createComputeActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
