/**
 * The console's page of one file: its workflow's state from Temporal (the `progress` query, the result or the
 * failure), its report from the output bucket, and presigned links to download what it produced.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { fixOf } from '../contract/failures';
import type { FileReport } from '../contract/reports';
import type { UploadSettings } from './upload';
import { progressQuery, SA, type ProcessFileResult, type Progress } from '../contract/workflow';
import type { DeadLetterQueues } from './dead-letters';

/** Workflow statuses as the list names them (visibility's words). */
const STATUS_NAMES: Record<string, string> = {
  RUNNING: 'Running',
  COMPLETED: 'Completed',
  FAILED: 'Failed',
  CANCELLED: 'Canceled',
  TERMINATED: 'Terminated',
  CONTINUED_AS_NEW: 'ContinuedAsNew',
  TIMED_OUT: 'TimedOut',
};

/** How long a download link works. */
const DOWNLOAD_SECONDS = 15 * 60;

/** What the console works with; the SQS client and the queues are the dead-letter page's. */
export interface ConsoleDeps extends DeadLetterQueues {
  client: Client;
  s3: S3Client;
  /** The Temporal UI's address, for a link to each workflow; none when there is no UI to link to. */
  temporalUiUrl?: string;
  /** The input bucket of the Upload page; without it, uploads are off. */
  upload?: UploadSettings;
  /** The public origin behind a load balancer, the one its forms accept; by default the address reached. */
  origin?: string;
}

export interface FileView {
  workflowId: string;
  runId: string;
  status: string;
  key?: string;
  bucket?: string;
  progress?: Progress;
  result?: ProcessFileResult;
  report?: FileReport;
  failure?: { type: string; message: string; fix?: string };
  downloads: { label: string; href: string }[];
  temporalUiLink?: string;
  /** It failed, or left failed chunks: a redrive reruns what failed. */
  redrivable: boolean;
}

async function presigned(s3: S3Client, bucket: string, key: string): Promise<string> {
  return getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), {
    expiresIn: DOWNLOAD_SECONDS,
  });
}

async function readReport(s3: S3Client, at: { bucket: string; key: string }): Promise<FileReport> {
  const res = await s3.send(new GetObjectCommand({ Bucket: at.bucket, Key: at.key }));
  return JSON.parse(await res.Body!.transformToString('utf8')) as FileReport;
}

/** The failure a failed workflow ended with: its type, message and the failure table's fix. */
function failureOf(err: unknown): FileView['failure'] {
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  const type = cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : 'Error';
  const message = cause instanceof Error ? cause.message : String(cause);
  const fix = fixOf(type);
  return { type, message, ...(fix ? { fix } : {}) };
}

/** The file of `workflowId`, or undefined when Temporal has no such workflow. */
export async function loadFile(deps: ConsoleDeps, workflowId: string): Promise<FileView | undefined> {
  const handle = deps.client.workflow.getHandle(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
  const sa = description.typedSearchAttributes;
  // A closed workflow answers the query too, replayed by a worker; none may be running.
  const progress = await handle.query(progressQuery).catch(() => undefined);
  const view: FileView = {
    workflowId,
    runId: description.runId,
    status: STATUS_NAMES[description.status.name] ?? description.status.name,
    ...(sa.get(SA.objectKey) ? { key: sa.get(SA.objectKey) } : {}),
    ...(sa.get(SA.bucket) ? { bucket: sa.get(SA.bucket) } : {}),
    ...(progress ? { progress } : {}),
    downloads: [],
    redrivable: !['RUNNING', 'COMPLETED'].includes(description.status.name),
    ...(deps.temporalUiUrl
      ? {
          temporalUiLink: `${deps.temporalUiUrl}/namespaces/${encodeURIComponent(deps.client.options.namespace)}/workflows/${encodeURIComponent(workflowId)}/${description.runId}/history`,
        }
      : {}),
  };
  if (description.status.name === 'FAILED') {
    view.failure = await handle.result().then(
      () => undefined,
      (err: unknown) => failureOf(err),
    );
  }
  if (description.status.name !== 'COMPLETED') return view;
  const result = (await handle.result()) as ProcessFileResult;
  view.result = result;
  if (result.report) view.report = await readReport(deps.s3, result.report);
  view.redrivable = view.report?.status === 'processed-with-failed-chunks';
  const links: [string, { bucket: string; key: string } | undefined][] = [
    ['Output', result.output],
    ['Rejects', view.report?.rejects],
    ['Report', result.report],
  ];
  for (const [label, at] of links) {
    if (at) view.downloads.push({ label, href: await presigned(deps.s3, at.bucket, at.key) });
  }
  return view;
}
