/**
 * The compute backend of each route, for a compute mode: AWS Batch and ECS, or local processes mirroring
 * them; inline runs go to the worker's own thread pool in both modes.
 */
import { availableParallelism } from 'node:os';
import type { BatchClient } from '@aws-sdk/client-batch';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { Route } from '../contract/workflow';
import { runTaskRequest, submitJobRequest, type BatchSettings, type EcsSettings } from './aws-requests';
import { createBatchBackend } from './batch-backend';
import type { Backend } from './compute';
import { createEcsBackend } from './ecs-backend';
import { createInlineBackend } from './inline-backend';
import { createLocalBackend } from './local-backend';

export interface BackendSettings {
  mode: 'local' | 'aws';
  batch: BatchSettings & { runnableTimeoutSeconds: number };
  ecs: EcsSettings;
  /** Seconds between status polls of a Batch job or ECS task. */
  pollSeconds: number;
  /** Seconds between heartbeats of a local process or an inline run. */
  heartbeatSeconds: number;
  /**
   * Threads of the inline pool.
   * @default the cores
   */
  inlineThreads?: number;
}

export function createBackends(
  s: BackendSettings,
  clients: { batch: BatchClient; ecs: ECSClient },
): Record<Route, Backend> {
  const inline = createInlineBackend({
    threads: s.inlineThreads ?? availableParallelism(),
    heartbeatSeconds: s.heartbeatSeconds,
  });
  if (s.mode === 'aws') {
    return {
      inline,
      batch: createBatchBackend({ ...s.batch, batch: clients.batch, pollSeconds: s.pollSeconds }),
      ecs: createEcsBackend({ ...s.ecs, ecs: clients.ecs, pollSeconds: s.pollSeconds }),
    };
  }
  return {
    inline,
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
