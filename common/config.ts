/**
 * Every environment variable the project reads is declared here, once, with its schema and meaning.
 * Each process parses the subset it needs at start-up with {@link loadConfig} and fails fast with a
 * message naming the variable, what it expected and what it means.
 */
import { z } from 'zod';
import { DEFAULTS } from '../contract/defaults';
import { CSV_DELIMITER_CHOICES, parseCsvDelimiter } from '../contract/jobs';
import { isTimeOfDay, isTimeZone } from '../contract/schedule';
import { dateLayoutProblem, DATE_PLACEHOLDER, DEFAULT_DATE_LAYOUT } from '../contract/reprocess';
import { ExplainedError, FAILURES } from '../contract/failures';

const port = z.coerce.number().int().min(1).max(65535);
const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A setting with no default of its own. */
const setting = z.string().min(1).optional();
const list = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );

/** The schema of every variable, with a description shown when it is missing or wrong. */
export const ENV = {
  AWS_REGION: z.string().min(1).default('us-east-1').describe('AWS region of the buckets and queues'),
  AWS_ENDPOINT_URL: z
    .url()
    .optional()
    .describe('AWS API endpoint override, e.g. http://127.0.0.1:5000 for the moto emulator'),

  // @temporalio/envconfig's settings (common/temporal.ts): over the temporal.toml profile, so no defaults.
  TEMPORAL_ADDRESS: setting.describe('Temporal frontend host:port (default localhost:7233)'),
  TEMPORAL_NAMESPACE: setting.describe('Temporal namespace (over the profile; default "default")'),
  TEMPORAL_TASK_QUEUE: z
    .string()
    .min(1)
    .default(DEFAULTS.taskQueue)
    .describe('task queue the worker polls and the ingress starts workflows on'),
  TEMPORAL_API_KEY: setting.describe('Temporal Cloud API key (implies TLS)'),
  TEMPORAL_TLS: z.enum(['true', 'false', '1', '0']).optional().describe('use TLS: "true" or "false"'),
  TEMPORAL_TLS_CLIENT_CERT_PATH: setting.describe('path of the mTLS client certificate (PEM)'),
  TEMPORAL_TLS_CLIENT_KEY_PATH: setting.describe('path of the mTLS client key (PEM)'),
  TEMPORAL_TLS_CLIENT_CERT_DATA: setting.describe('the mTLS client certificate itself (PEM text)'),
  TEMPORAL_TLS_CLIENT_KEY_DATA: setting.describe('the mTLS client key itself (PEM text)'),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: setting.describe('CA certificate (PEM) of a self-hosted server'),
  TEMPORAL_TLS_SERVER_NAME: setting.describe("name the server's TLS certificate is checked against"),
  TEMPORAL_PROFILE: setting.describe('profile of temporal.toml to connect with (default: default)'),
  TEMPORAL_CONFIG_FILE: setting.describe(
    'path of temporal.toml (default: ~/.config/temporalio/temporal.toml)',
  ),

  AWS_CALL_LOG_DIR: setting.describe(
    'directory where each process appends one JSON line per AWS API call it makes (COMPONENT-PID.jsonl): what npm test proves the IAM roles of infra/ against',
  ),

  QUEUE_URL: z.url().describe('URL of the SQS queue that receives the input bucket notifications'),
  INPUT_BUCKETS: list
    .refine((buckets) => buckets.length > 0, 'expected at least one bucket name')
    .describe(
      "comma-separated input buckets whose notifications the ingress accepts; another bucket's go to the dead-letter queue",
    ),
  OUTPUT_BUCKET: z.string().min(3).describe('bucket the processed outputs are written to'),
  CONSOLE_PORT: port.default(8080).describe("port of the operator's console (npm run console)"),
  CONSOLE_HOST: z
    .ipv4()
    .default('127.0.0.1')
    .describe(
      'address the console listens on: loopback, this machine only; 0.0.0.0 in its container, behind the authenticating load balancer',
    ),
  CONSOLE_ORIGIN: z
    .url()
    .refine((url) => new URL(url).origin === url, 'expected an origin: scheme, host and port only, no path')
    .optional()
    .describe(
      "the console's public origin behind its load balancer (https://console.example.com): the one Origin its forms accept; unset, the address it is reached at",
    ),
  CONSOLE_UPLOAD_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(5 * 1024 ** 3)
    .default(5 * 1024 ** 3)
    .describe("largest file the console's Upload page takes, in bytes, up to 5 GiB (S3's limit for a POST)"),
  TEMPORAL_UI_URL: z
    .url()
    .optional()
    .describe("the Temporal UI's address, for the console's link to each file's workflow"),
  DYNAMODB_TABLE: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'a DynamoDB table name: 3-255 letters, digits, _ . -')
    .optional()
    .describe('the DynamoDB table the csv-to-dynamodb job loads rows into'),
  INGRESS_WAIT_SECONDS: seconds(0, 20).default(20).describe('SQS long-poll wait time, 0-20 seconds'),
  INGRESS_MAX_MESSAGES: z.coerce
    .number()
    .int()
    .min(1)
    .max(10)
    .default(10)
    .describe('messages per SQS receive, 1-10'),
  VISIBILITY_TIMEOUT_SECONDS: seconds(10, 43200)
    .default(DEFAULTS.visibilityTimeoutSeconds)
    .describe('how long a workflow keeps its message invisible per extension, 10-43200 seconds'),
  COMPUTE_TIMEOUT_SECONDS: seconds(10, 86400)
    .default(DEFAULTS.computeTimeoutSeconds)
    .describe('longest time one processor run may take, 10-86400 seconds'),
  HEARTBEAT_SECONDS: seconds(1, 600).default(10).describe('how often the compute activity heartbeats'),
  COMPUTE_HEARTBEAT_TIMEOUT_SECONDS: seconds(2, 3600)
    .default(DEFAULTS.heartbeatTimeoutSeconds)
    .describe(
      'ingress: how long a compute activity may go without a heartbeat before it is retried on another worker (a crashed worker is noticed this late)',
    ),

  COMPUTE_MODE: z
    .enum(['local', 'aws'])
    .default('local')
    .describe('compute mode: "aws" runs Batch jobs and ECS tasks, "local" a local process that mirrors them'),
  COMPUTE_POLL_SECONDS: z.coerce
    .number()
    .min(0.05)
    .max(300)
    .default(10)
    .describe('how often a Batch job or ECS task is polled, in seconds (sub-second against an emulator)'),
  COMPUTE_MAX_CONCURRENT_JOBS: z.coerce
    .number()
    .int()
    .min(1)
    .max(10000)
    .default(50)
    .describe('how many compute jobs one worker runs or waits on at once'),
  INLINE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .max(1024 ** 3)
    .default(DEFAULTS.inlineMaxBytes)
    .describe(
      "ingress: files no larger than this with no processor-type run inline, in the worker's thread pool (0: never)",
    ),
  INLINE_MAX_CONCURRENT: z.coerce
    .number()
    .int()
    .min(0)
    .max(256)
    .optional()
    .describe(
      "threads of the worker's inline pool, and inline runs at once (default: the cores; 0: no inline runs)",
    ),
  COMPUTE_SUBMITS_PER_SECOND: z.coerce
    .number()
    .min(0.1)
    .max(1000)
    .default(10)
    .describe('how many compute jobs may start per second across all workers of the task queue'),
  BATCH_JOB_QUEUE: z
    .string()
    .min(1)
    .default(DEFAULTS.batchJobQueue)
    .describe('AWS Batch job queue (Fargate Spot)'),
  BATCH_JOB_DEFINITION: z
    .string()
    .min(1)
    .default(DEFAULTS.processorDefinition)
    .describe('AWS Batch job definition running the processor image'),
  BATCH_RUNNABLE_TIMEOUT_SECONDS: seconds(1, 86400)
    .default(900)
    .describe('how long a Batch job may wait for capacity (RUNNABLE) before it is rerouted to ECS'),
  ECS_CLUSTER: z.string().min(1).default(DEFAULTS.ecsCluster).describe('ECS cluster for processor tasks'),
  ECS_TASK_DEFINITION: z
    .string()
    .min(1)
    .default(DEFAULTS.processorDefinition)
    .describe('ECS task definition running the processor image'),
  ECS_CONTAINER_NAME: z
    .string()
    .min(1)
    .default(DEFAULTS.processorContainer)
    .describe('name of the processor container'),
  ECS_CAPACITY_PROVIDER: z
    .enum(['FARGATE', 'FARGATE_SPOT'])
    .default('FARGATE')
    .describe('capacity provider of processor tasks: FARGATE or FARGATE_SPOT'),
  ECS_SUBNETS: list.describe('comma-separated private subnet IDs for processor tasks (required in aws mode)'),
  ECS_SECURITY_GROUPS: list.describe(
    'comma-separated security group IDs for processor tasks (required in aws mode)',
  ),

  SOURCE_BUCKET: z.string().min(3).describe('processor: bucket of the object to process'),
  OBJECT_KEY: z.string().min(1).describe('processor: key of the object to process'),
  SOURCE_ETAG: setting.describe('processor: ETag (without quotes) of the object version the run must read'),
  SOURCE_VERSION_ID: z.string().min(1).optional().describe('processor: S3 versionId of the object to read'),
  DEST_BUCKET: z.string().min(3).describe('processor: bucket to write the output to'),
  DEST_KEY: z.string().min(1).describe('processor: key of the output object'),
  JOB: z.string().min(1).describe('processor: job to run, e.g. csv-transform or text-to-pdf'),
  PROCESSED_AT: z.iso
    .datetime()
    .optional()
    .describe('processor: ISO-8601 UTC timestamp stamped on the output (defaults to now)'),
  SCHEMA: setting.describe(
    "processor and worker (CSV jobs): name of the default schema to check against, where an object's x-amz-meta-schema names none (default: the schema file's default)",
  ),
  SCHEMA_FILE: setting.describe(
    'processor and worker (CSV jobs): path of a schema file to use instead of the built-in config/schemas.json',
  ),
  REJECTS_KEY: setting.describe(
    'processor (csv-validate): key in DEST_BUCKET of the rejects file (default: rejects/DEST_KEY)',
  ),
  MAX_REJECTED_PERCENT: z.coerce
    .number()
    .min(0)
    .max(100)
    .optional()
    .describe(
      'processor (csv-validate): largest share of rejected rows, in percent, before the file fails (overrides the schema)',
    ),
  RANGE_START: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'processor (CSV jobs, a chunk): first byte of the range of the source to process, 0-based (with RANGE_END)',
    ),
  RANGE_END: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .describe(
      'processor (CSV jobs, a chunk): end of the range of the source to process, exclusive (with RANGE_START)',
    ),
  CSV_HEADER: setting.describe(
    "processor (CSV jobs, a chunk): the file's header record without BOM and line terminator, for a range that does not start at 0",
  ),
  FIRST_ROW: z.coerce
    .number()
    .int()
    .min(1)
    .default(1)
    .describe('processor (CSV jobs, a chunk): 1-based data row number of the first record of the range'),
  FIRST_LINE: z.coerce
    .number()
    .int()
    .min(1)
    .default(1)
    .describe(
      'processor (CSV jobs, a chunk): 1-based line number in the file of the first byte of the range',
    ),
  CSV_DELIMITER: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const delimiter = parseCsvDelimiter(value);
      if (delimiter === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected ${CSV_DELIMITER_CHOICES}` });
        return z.NEVER;
      }
      return delimiter;
    })
    .describe(
      "processor (CSV jobs): the field separator, from the object's x-amz-meta-csv-delimiter (default: the schema's, else a comma)",
    ),
  STATS_KEY: setting.describe(
    'processor: key in DEST_BUCKET of a JSON copy of the statistics, written once the output is complete',
  ),

  OTEL_TRACES_EXPORTER: z
    .enum(['none', 'otlp', 'zipkin'])
    .default('none')
    .describe("where spans go (OpenTelemetry's variable): otlp, zipkin or none (common/tracing.ts)"),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional().describe('OTLP/HTTP endpoint of the spans, with otlp'),
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: z.url().optional().describe("Zipkin's span endpoint, with zipkin"),
  METRICS_ADDRESS: z
    .string()
    .regex(/^[\w.-]+:\d{1,5}$/, 'host:port, e.g. 0.0.0.0:9464')
    .optional()
    .describe(
      "host:port of the worker's Prometheus endpoint (/metrics): the Temporal SDK's metrics and the pipeline's; unset, none",
    ),
  WORKFLOW_BUNDLE_PATH: setting.describe(
    'prebuilt workflow bundle (npm run build:workflow-bundle); without it the worker bundles at start',
  ),

  REPORT_SCHEDULE_TIME: z
    .string()
    .default(DEFAULTS.reportSchedule.time)
    .refine(isTimeOfDay, 'expected a time of day HH:MM, e.g. 02:00')
    .describe(
      "time of day (HH:MM, in REPORT_TIME_ZONE) of the daily report's Schedule, which reports on the UTC day before",
    ),
  REPORT_TIME_ZONE: z
    .string()
    .default(DEFAULTS.reportSchedule.timeZone)
    .refine(isTimeZone, 'expected an IANA time zone, e.g. UTC or Europe/Paris')
    .describe("time zone of the daily report's Schedule and of the day it reports on"),

  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info').describe('log verbosity'),
  TEMPORAL_CLI_PATH: setting.describe(
    'path of the temporal CLI to use instead of the one on PATH or in .tools/',
  ),
  REPROCESS_DATE_LAYOUT: z
    .string()
    .default(DEFAULT_DATE_LAYOUT)
    .superRefine((layout, ctx) => {
      const problem = dateLayoutProblem(layout);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(
      `prefix of a day's objects for npm run reprocess -- --date, ${DATE_PLACEHOLDER} standing for the date`,
    ),
  MOTO_PORT: port.optional().describe('port for the moto server of npm run dev (default: a free port)'),
} as const;

export type EnvName = keyof typeof ENV;
type Picked<K extends EnvName> = z.infer<z.ZodObject<Pick<typeof ENV, K>>>;

/**
 * The variables every Temporal-connected process reads: the task queue, and envconfig's connection settings
 * (common/temporal.ts connects with them, and with TEMPORAL_GRPC_META_* and the profile they select).
 */
export const TEMPORAL_ENV = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TASK_QUEUE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
] as const satisfies readonly EnvName[];

/** Where a process sends its spans (common/tracing.ts reads them, as OpenTelemetry's exporters do). */
const TRACING_ENV = [
  'OTEL_TRACES_EXPORTER',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_ZIPKIN_ENDPOINT',
] as const satisfies readonly EnvName[];

/** The variables the AWS clients of a process read (common/aws.ts). */
const AWS_ENV = ['AWS_REGION', 'AWS_ENDPOINT_URL', 'AWS_CALL_LOG_DIR'] as const satisfies readonly EnvName[];

/**
 * What the worker (workers/main.ts) reads: the deployment files (infra/, docker-compose.yml) are tested
 * against this list.
 */
export const WORKER_VARIABLES = [
  ...TEMPORAL_ENV,
  ...AWS_ENV,
  ...TRACING_ENV,
  'OUTPUT_BUCKET',
  'DYNAMODB_TABLE',
  'SCHEMA',
  'SCHEMA_FILE',
  'HEARTBEAT_SECONDS',
  'LOG_LEVEL',
  'METRICS_ADDRESS',
  'WORKFLOW_BUNDLE_PATH',
  'COMPUTE_MODE',
  'COMPUTE_POLL_SECONDS',
  'COMPUTE_MAX_CONCURRENT_JOBS',
  'COMPUTE_SUBMITS_PER_SECOND',
  'INLINE_MAX_CONCURRENT',
  'BATCH_JOB_QUEUE',
  'BATCH_JOB_DEFINITION',
  'BATCH_RUNNABLE_TIMEOUT_SECONDS',
  'ECS_CLUSTER',
  'ECS_TASK_DEFINITION',
  'ECS_CONTAINER_NAME',
  'ECS_CAPACITY_PROVIDER',
  'ECS_SUBNETS',
  'ECS_SECURITY_GROUPS',
] as const satisfies readonly EnvName[];

/** What the ingress (ingress/main.ts) reads. */
export const INGRESS_VARIABLES = [
  ...TEMPORAL_ENV,
  ...AWS_ENV,
  ...TRACING_ENV,
  'QUEUE_URL',
  'INPUT_BUCKETS',
  'INGRESS_WAIT_SECONDS',
  'INGRESS_MAX_MESSAGES',
  'VISIBILITY_TIMEOUT_SECONDS',
  'COMPUTE_TIMEOUT_SECONDS',
  'COMPUTE_HEARTBEAT_TIMEOUT_SECONDS',
  'INLINE_MAX_BYTES',
  'LOG_LEVEL',
] as const satisfies readonly EnvName[];

/** What the operator's console (console/main.ts) reads. */
export const CONSOLE_VARIABLES = [
  ...TEMPORAL_ENV,
  ...AWS_ENV,
  'QUEUE_URL',
  'CONSOLE_PORT',
  'CONSOLE_HOST',
  'CONSOLE_ORIGIN',
  'TEMPORAL_UI_URL',
  'INPUT_BUCKETS',
  'CONSOLE_UPLOAD_MAX_BYTES',
  'LOG_LEVEL',
] as const satisfies readonly EnvName[];

/** What the daily report's Schedule is created with: the launcher, `npm run setup:temporal`, `npm run report`. */
export const SCHEDULE_VARIABLES = [
  'REPORT_SCHEDULE_TIME',
  'REPORT_TIME_ZONE',
] as const satisfies readonly EnvName[];

/** A configuration problem, thrown at start-up before any work is done: {@link FAILURES}' configuration. */
export class ConfigError extends ExplainedError {
  override name = 'ConfigError';
  override readonly exitCode = FAILURES.configuration.exitCodes.EX_CONFIG;
}

/**
 * Parses the named variables from `env` (default: `process.env`).
 * @throws ConfigError listing every invalid or missing variable with its meaning.
 */
export function loadConfig<K extends EnvName>(
  component: string,
  names: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): Picked<K> {
  const shape = Object.fromEntries(names.map((n) => [n, ENV[n]])) as Pick<typeof ENV, K>;
  const values = Object.fromEntries(names.map((n) => [n, env[n] === '' ? undefined : env[n]]));
  const parsed = z.object(shape).safeParse(values);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0]) as EnvName;
    const problem =
      values[name] === undefined
        ? 'required but not set'
        : `${issue.message} (got ${JSON.stringify(values[name])})`;
    return `  ${name}: ${problem}. ${name} is the ${ENV[name].description ?? 'setting'}.`;
  });
  throw new ConfigError(
    `${component}: invalid configuration:\n${lines.join('\n')}\nSet the variable(s) in the environment and start it again.`,
  );
}

/**
 * Variables that have no usable default with `COMPUTE_MODE=aws`: an ECS task (a file's own route, or a Batch
 * job rerouted for want of capacity) cannot start without its subnets and security groups.
 */
export const AWS_MODE_VARIABLES = [
  'ECS_SUBNETS',
  'ECS_SECURITY_GROUPS',
] as const satisfies readonly EnvName[];

type ComputeSettings = Picked<'COMPUTE_MODE' | (typeof AWS_MODE_VARIABLES)[number]>;

/**
 * Checks, at start-up, the settings the compute mode needs beyond what {@link loadConfig} can check one by
 * one: with `COMPUTE_MODE=aws`, every variable of {@link AWS_MODE_VARIABLES} must name at least one ID.
 * @throws ConfigError naming every missing variable with its meaning and the fix.
 */
export function checkComputeMode(component: string, config: ComputeSettings): void {
  if (config.COMPUTE_MODE !== 'aws') return;
  const missing = AWS_MODE_VARIABLES.filter((name) => config[name].length === 0);
  if (missing.length === 0) return;
  const lines = missing.map(
    (name) =>
      `  ${name}: required with COMPUTE_MODE=aws but not set. ${name} is the ${ENV[name].description ?? 'setting'}.`,
  );
  throw new ConfigError(
    `${component}: invalid configuration:\n${lines.join('\n')}\nSet the variable(s) in the environment (or COMPUTE_MODE=local to run processors as local processes) and start it again.`,
  );
}
