/**
 * The console's file list: one row per `processFile` workflow, read from Temporal visibility (its search
 * attributes), filtered by status, route, job, key prefix and start date, a page at a time.
 */
import type { Client } from '@temporalio/client';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { addDays, isDate } from '../contract/dates';
import { JOB_NAMES } from '../contract/jobs';
import { PROCESS_FILE_WORKFLOW, SA, type Route } from '../contract/workflow';

export const FILE_STATUSES = [
  'Running',
  'Completed',
  'Failed',
  'Canceled',
  'Terminated',
  'TimedOut',
] as const;
const ROUTES: readonly Route[] = ['batch', 'ecs', 'inline'];
const PAGE_SIZE = 50;

export interface FileFilters {
  status?: (typeof FILE_STATUSES)[number];
  route?: Route;
  job?: string;
  /** The object keys' prefix. */
  prefix?: string;
  /** The day (UTC) the file's workflow started, YYYY-MM-DD. */
  date?: string;
}

/** A filter the list cannot apply: the page says which and why, instead of listing something else. */
export class FilterError extends Error {
  override name = 'FilterError';
}

/** The filters of a list URL's query string. @throws FilterError naming the bad parameter and what it takes. */
export function parseFilters(query: Record<string, string | undefined>): FileFilters {
  const filters: FileFilters = {};
  const value = (name: string) => (query[name] ?? '').trim() || undefined;
  const oneOf = <T extends string>(name: string, choices: readonly T[]): T | undefined => {
    const v = value(name);
    if (v !== undefined && !choices.includes(v as T)) {
      throw new FilterError(`${name} is "${v}": expected one of ${choices.join(', ')}`);
    }
    return v as T | undefined;
  };
  const status = oneOf('status', FILE_STATUSES);
  const route = oneOf('route', ROUTES);
  const job = oneOf('job', JOB_NAMES);
  const prefix = value('prefix');
  if (prefix !== undefined && /["\\]/.test(prefix)) {
    throw new FilterError(
      `prefix "${prefix}" has a quote or a backslash, which object keys of this list never need`,
    );
  }
  const date = value('date');
  if (date !== undefined && !isDate(date)) throw new FilterError(`date is "${date}": expected YYYY-MM-DD`);
  Object.assign(
    filters,
    status && { status },
    route && { route },
    job && { job },
    prefix && { prefix },
    date && { date },
  );
  return filters;
}

/** The visibility query of `filters`: the files only, not a chunked file's child workflows. */
export function visibilityQuery(filters: FileFilters): string {
  return [
    `WorkflowType = "${PROCESS_FILE_WORKFLOW}"`,
    filters.status && `ExecutionStatus = "${filters.status}"`,
    filters.route && `${SA.route.name} = "${filters.route}"`,
    filters.job && `${SA.job.name} = "${filters.job}"`,
    filters.prefix && `${SA.objectKey.name} STARTS_WITH "${filters.prefix}"`,
    filters.date &&
      `StartTime >= "${filters.date}T00:00:00Z" AND StartTime < "${addDays(filters.date, 1)}T00:00:00Z"`,
  ]
    .filter(Boolean)
    .join(' AND ');
}

/** One file as the list shows it. */
export interface FileRow {
  workflowId: string;
  runId: string;
  status: string;
  bucket?: string;
  key?: string;
  size?: number;
  route?: string;
  backend?: string;
  job?: string;
  stage?: string;
  chunksDone?: number;
  chunksTotal?: number;
  chunksFailed?: number;
  startedAt: Date;
  /** Until now for a running file. */
  seconds: number;
}

const STATUS_NAMES: Record<number, string> = {
  [temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING]: 'Running',
  [temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED]: 'Completed',
  [temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED]: 'Failed',
  [temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED]: 'Canceled',
  [temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED]: 'Terminated',
  [temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW]:
    'ContinuedAsNew',
  [temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT]: 'TimedOut',
};

function rowOf(e: temporal.api.workflow.v1.IWorkflowExecutionInfo, now: number): FileRow {
  const sa = decodeTypedSearchAttributes(e.searchAttributes?.indexedFields);
  const started = optionalTsToMs(e.startTime) ?? now;
  const closed = optionalTsToMs(e.closeTime);
  const number = (v: number | undefined) => (v === undefined ? undefined : Number(v));
  return {
    workflowId: e.execution?.workflowId ?? '',
    runId: e.execution?.runId ?? '',
    status: STATUS_NAMES[e.status ?? 0] ?? 'Unknown',
    bucket: sa.get(SA.bucket),
    key: sa.get(SA.objectKey),
    size: number(sa.get(SA.objectSize)),
    route: sa.get(SA.route),
    backend: sa.get(SA.backend),
    job: sa.get(SA.job),
    stage: sa.get(SA.stage),
    chunksDone: number(sa.get(SA.itemsDone)),
    chunksTotal: number(sa.get(SA.itemsTotal)),
    chunksFailed: number(sa.get(SA.itemsFailed)),
    startedAt: new Date(started),
    seconds: ((closed ?? now) - started) / 1000,
  };
}

/** A page of files, newest first; `next` is the token of the page after it. */
export async function listFiles(
  client: Client,
  filters: FileFilters,
  pageToken?: string,
): Promise<{ rows: FileRow[]; next?: string }> {
  const res = await client.workflowService.listWorkflowExecutions({
    namespace: client.options.namespace,
    query: visibilityQuery(filters),
    pageSize: PAGE_SIZE,
    ...(pageToken ? { nextPageToken: Buffer.from(pageToken, 'base64url') } : {}),
  });
  const now = Date.now();
  const next = res.nextPageToken?.length ? Buffer.from(res.nextPageToken).toString('base64url') : undefined;
  return { rows: (res.executions ?? []).map((e) => rowOf(e, now)), ...(next ? { next } : {}) };
}

/** How many files match `filters`: the list's total, from the same visibility query as its pages. */
export async function countFiles(client: Client, filters: FileFilters): Promise<number> {
  const res = await client.workflowService.countWorkflowExecutions({
    namespace: client.options.namespace,
    query: visibilityQuery(filters),
  });
  return Number(res.count ?? 0);
}
