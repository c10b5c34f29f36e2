/** The compute backend of each route, for a compute mode: AWS Batch and ECS, or local processes mirroring them. */
import type { BatchClient } from '@aws-sdk/client-batch';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { Route } from '../contract/workflow';
import { runTaskRequest, submitJobRequest, type BatchSettings, type EcsSettings } from './aws-requests';
import { createBatchBackend } from './batch-backend';
import type { ComputeBackend } from './compute';
import { createEcsBackend } from './ecs-backend';
import { createLocalBackend } from './local-backend';

export interface BackendSettings {
  mode: 'local' | 'aws';
  batch: BatchSettings & { runnableTimeoutSeconds: number };
  ecs: EcsSettings;
  /** Seconds between status polls of a Batch job or ECS task. */
  pollSeconds: number;
  /** Seconds between heartbeats of a local process. */
  heartbeatSeconds: number;
}

export function createBackends(
  s: BackendSettings,
  clients: { batch: BatchClient; ecs: ECSClient },
): Record<Route, ComputeBackend> {
  if (s.mode === 'aws') {
    return {
      batch: createBatchBackend({ ...s.batch, batch: clients.batch, pollSeconds: s.pollSeconds }),
      ecs: createEcsBackend({ ...s.ecs, ecs: clients.ecs, pollSeconds: s.pollSeconds }),
    };
  }
  return {
    batch: createLocalBackend({
      mirrors: (run) => submitJobRequest(s.batch, run),
      heartbeatSeconds: s.heartbeatSeconds,
    }),
    ecs: createLocalBackend({
      mirrors: (run) => runTaskRequest(s.ecs, run),
      heartbeatSeconds: s.heartbeatSeconds,
    }),
  };
}
