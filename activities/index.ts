/** All activities of the worker's workflows (`processFile`, `dailyReport`, `reprocess`), built from injected clients. */
import { createComputeActivities, type ComputeDeps } from './compute';
import { createDailyReportActivities } from './daily-report';
import { createFinishActivities } from './finish';
import { createObjectActivities, type ObjectDeps } from './objects';
import { outputBucketOf } from './output-bucket';
import { createQueueActivities, type QueueDeps } from './queue';
import { createReportActivities } from './reports';
import { createReprocessActivities } from './reprocess';
import { createStagingActivities } from './staging';

export type ActivityDeps = ObjectDeps & QueueDeps & ComputeDeps;

export function createActivities(deps: ActivityDeps) {
  const objects = createObjectActivities(deps);
  const reports = createReportActivities(deps);
  const queue = createQueueActivities(deps);
  return {
    ...objects,
    ...createStagingActivities(deps),
    ...reports,
    ...queue,
    ...createFinishActivities({
      outputBucket: deps.outputBucket,
      bucket: outputBucketOf(deps.s3, deps.outputBucket),
      objects,
      reports,
      queue,
    }),
    ...createComputeActivities(deps),
    ...createDailyReportActivities(deps),
    ...createReprocessActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
