/**
 * The deployment's parameters: CDK context (`npm run cdk -- deploy -c natGateways=2`), or props when a test
 * or another app builds the stack. Every one has a default, so `cdk synth` needs neither context nor AWS.
 */
import type { Node } from 'constructs';
import { ENV } from '../../common/config';
import { DEFAULTS, PIPELINE_NAME } from '../../contract/defaults';
import { parseConsoleSettings, type ConsoleSettings, type ResolvedConsole } from './console-settings';

/** The most `INLINE_MAX_BYTES` takes (common/config.ts). */
const MAX_INLINE_BYTES = 1024 ** 3;

/** The tunable parameters of {@link PipelineStack}; infra/README.md documents each. */
export interface PipelineSettings {
  /**
   * Secrets Manager secret (created by you, outside the stack) holding the Temporal connection as JSON:
   * `{"address": "ns.acct.tmprl.cloud:7233", "namespace": "ns.acct", "apiKey": "…"}`.
   * @default 'file-pipeline/temporal'
   */
  readonly temporalSecretName?: string;
  /**
   * Whether the secret has an `apiKey` (Temporal Cloud, or a self-hosted server behind API keys). `false`
   * for a self-hosted server reached without credentials (inside the VPC or a peered network).
   * @default true
   */
  readonly temporalApiKey?: boolean;
  /**
   * TCP port of the Temporal frontend: the only non-HTTPS port the worker and ingress may reach.
   * @default 7233
   */
  readonly temporalPort?: number;
  /**
   * Temporal task queue of the worker and the workflows the ingress starts.
   * @default 'file-pipeline'
   */
  readonly taskQueue?: string;
  /**
   * NAT gateways of the VPC: 1 is cheapest; one per AZ (2) survives an AZ outage.
   * @default 1
   */
  readonly natGateways?: number;
  /**
   * Upper bound of each Batch compute environment (Spot, and the on-demand fallback), in vCPUs.
   * @default 64
   */
  readonly batchMaxVcpus?: number;
  /**
   * Capacity provider of processor ECS tasks (`ECS_CAPACITY_PROVIDER`): `FARGATE` or `FARGATE_SPOT`.
   * @default 'FARGATE'
   */
  readonly ecsCapacityProvider?: 'FARGATE' | 'FARGATE_SPOT';
  /**
   * Most worker tasks the CPU auto scaling may run.
   * @default 4
   */
  readonly workerMaxTasks?: number;
  /**
   * Most ingress tasks the queue-depth auto scaling may run.
   * @default 3
   */
  readonly ingressMaxTasks?: number;
  /**
   * `INLINE_MAX_BYTES` of the ingress: files no larger than this, with no `processor-type`, run inline on the
   * worker's threads; 0: only files with `processor-type: inline` do.
   * @default 4194304 (4 MiB)
   */
  readonly inlineMaxBytes?: number;
  /**
   * An e-mail address subscribed to the alarm topic (it must confirm the subscription).
   * @default - no subscription: subscribe to the `AlarmTopicArn` output yourself
   */
  readonly alarmEmail?: string;
  /**
   * The operator's console behind an authenticating load balancer: its domain, certificate and IdP (context:
   * a JSON object). infra/README.md documents its fields.
   * @default - no console: it is deployed only behind authentication
   */
  readonly console?: ConsoleSettings;
  /**
   * Tag of the four images CI built, scanned and pushed to ECR (the commit SHA:
   * .github/workflows/deliver.yml): the services and the Batch job run `imageRepositoryPrefix/NAME:imageTag`
   * of the stack's account and region instead of images `cdk deploy` builds.
   * @default - `cdk deploy` builds the images from docker/ (CDK assets)
   */
  readonly imageTag?: string;
  /**
   * With `imageTag`: the ECR repositories are `PREFIX/worker`, `PREFIX/ingress`, `PREFIX/processor` and
   * `PREFIX/console`.
   * @default 'file-pipeline'
   */
  readonly imageRepositoryPrefix?: string;
}

type Optional = 'alarmEmail' | 'console' | 'imageTag';

export type ResolvedSettings = Required<Omit<PipelineSettings, Optional>> &
  Pick<PipelineSettings, 'alarmEmail' | 'imageTag'> & { console?: ResolvedConsole };

export const DEFAULT_SETTINGS: Required<Omit<PipelineSettings, Optional>> = {
  temporalSecretName: `${PIPELINE_NAME}/temporal`,
  temporalApiKey: true,
  temporalPort: 7233,
  taskQueue: DEFAULTS.taskQueue,
  natGateways: 1,
  batchMaxVcpus: 64,
  ecsCapacityProvider: 'FARGATE',
  workerMaxTasks: 4,
  ingressMaxTasks: 3,
  inlineMaxBytes: DEFAULTS.inlineMaxBytes,
  imageRepositoryPrefix: PIPELINE_NAME,
};

/** What ECR accepts as an image tag, and as a repository name (the prefix is one, or a path of them). */
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const REPOSITORY_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Context values arrive as strings from `-c key=value` and as JSON values from cdk.json. */
function parse(key: keyof PipelineSettings, raw: unknown, like: unknown): unknown {
  const fail = (expected: string) =>
    new Error(`context ${key}=${JSON.stringify(raw)} is invalid: expected ${expected}`);
  if (typeof like === 'number') {
    const n = typeof raw === 'string' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw fail('a non-negative integer');
    // The ingress would refuse to start with it.
    if (key === 'inlineMaxBytes' && !ENV.INLINE_MAX_BYTES.safeParse(n).success) {
      throw fail(`a value INLINE_MAX_BYTES accepts (at most ${MAX_INLINE_BYTES})`);
    }
    return n;
  }
  if (typeof like === 'boolean') {
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    throw fail('true or false');
  }
  if (typeof raw !== 'string' || raw === '') throw fail('a non-empty string');
  if (key === 'ecsCapacityProvider' && raw !== 'FARGATE' && raw !== 'FARGATE_SPOT') {
    throw fail('FARGATE or FARGATE_SPOT');
  }
  if (key === 'imageTag' && !IMAGE_TAG.test(raw)) throw fail('an image tag (letters, digits, . _ -)');
  if (key === 'imageRepositoryPrefix' && !REPOSITORY_NAME.test(raw)) {
    throw fail('an ECR repository name (lower case, digits, . _ - and /)');
  }
  return raw;
}

/** Props win over context, context over the defaults. */
export function resolveSettings(node: Node, props: PipelineSettings): ResolvedSettings {
  const keys = [...Object.keys(DEFAULT_SETTINGS), 'alarmEmail', 'imageTag'] as (keyof PipelineSettings)[];
  const resolved: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  for (const key of keys) {
    const raw: unknown = props[key] ?? node.tryGetContext(key);
    if (raw !== undefined) resolved[key] = parse(key, raw, resolved[key] ?? '');
  }
  const operatorConsole = parseConsoleSettings(props.console ?? node.tryGetContext('console'));
  return { ...(resolved as ResolvedSettings), ...(operatorConsole ? { console: operatorConsole } : {}) };
}
