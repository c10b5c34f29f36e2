/**
 * The console's upload: it checks what the browser says of a file (name, size, type) and the chosen options
 * against the job registry and the metadata rules the workflow applies, then hands the browser a presigned POST
 * to the input bucket. The browser posts the file to S3 itself: no file byte passes through the console.
 *
 * The key is `uploads/YYYY-MM-DD/NAME` (the UTC day of the upload, the file's own name): the same name on the
 * same day replaces the object, and its new version is a new file for the pipeline.
 */
import { HeadObjectCommand, NotFound, type S3Client } from '@aws-sdk/client-s3';
import {
  createPresignedPost,
  type PresignedPost,
  type PresignedPostOptions,
} from '@aws-sdk/s3-presigned-post';
import { workflowIdFor } from '../common/ids';
import { InvalidMetadataError, parseChunkMetadata } from '../contract/chunk-metadata';
import { chooseJob, isJobName, JOB_NAMES, JOBS, type JobName } from '../contract/jobs';
import { INPUT_METADATA, UPLOADS_PREFIX } from '../contract/layout';
import { unquoteEtag } from '../contract/objects';
import { formatBytes } from '../contract/workflow';

/** The largest object one POST may create: S3's limit. */
export const MAX_POST_BYTES = 5 * 1024 ** 3;
/** How long a presigned POST may be used: enough to start a large upload, not to keep. */
const POST_SECONDS = 15 * 60;
/** The `processor-type` choices of the form; none is the default route (inline when small, else ECS). */
export const PROCESSOR_TYPES = ['pool', 'inline'] as const;
/** The optional metadata the form offers, by its field name: the `x-amz-meta-*` keys themselves. */
export const OPTIONAL_METADATA = [
  INPUT_METADATA.chunkSize,
  INPUT_METADATA.toleratedFailureCount,
  INPUT_METADATA.toleratedFailurePercent,
] as const;

export interface UploadSettings {
  /** The input bucket the browser posts to. */
  bucket: string;
  /** The largest file the console takes. @default {@link MAX_POST_BYTES} */
  maxBytes?: number;
}

/** A file the console will not upload; the message says why and what would be taken. */
export class UploadRefused extends Error {
  override name = 'UploadRefused';
}

/**
 * The extensions whose files `job` reads; with no job, those that choose a job by themselves (`chooseJob`).
 * A job chosen only by metadata (no extensions of its own) reads what the jobs of its kind read: the CSV
 * jobs', or the others'.
 */
export function acceptedExtensions(job?: JobName): string[] {
  const of = (names: JobName[]) => names.flatMap((name) => JOBS[name].extensions);
  if (!job) return of(JOB_NAMES);
  const own: readonly string[] = JOBS[job].extensions;
  return own.length > 0 ? [...own] : of(JOB_NAMES.filter((name) => JOBS[name].csv === JOBS[job].csv));
}

/** What the page posts: the file's name, size and type as the browser has them, and the chosen options. */
export type UploadRequest = Record<string, string | undefined>;

/** A checked upload: its key, Content-Type and the `x-amz-meta-*` fields it carries. */
export interface PlannedUpload {
  key: string;
  contentType: string;
  job: JobName;
  metadata: Record<string, string>;
}

const extensionOf = (name: string) => /\.[^.]*$/.exec(name)?.[0].toLowerCase() ?? '';
/** A MIME type as browsers give them; anything else is sent as bytes. */
const MIME_TYPE = /^[a-z0-9][\w.+-]*\/[\w.+-]+$/i;

/**
 * The upload `req` asks for, checked.
 * @throws UploadRefused naming the problem: the name, the size, a job that does not read the file (with the
 *   extensions that are read), an unknown choice, or a metadata value of the wrong form.
 */
export function planUpload(req: UploadRequest, settings: UploadSettings, now = new Date()): PlannedUpload {
  const value = (name: string) => (req[name] ?? '').trim();
  const name = value('name');
  // eslint-disable-next-line no-control-regex
  if (!name || /[/\\\u0000-\u001f\u007f]/.test(name) || Buffer.byteLength(name) > 900) {
    throw new UploadRefused(`the file name ${JSON.stringify(name)} cannot be an object key: choose another`);
  }
  const size = Number(value('size'));
  const maxBytes = settings.maxBytes ?? MAX_POST_BYTES;
  if (!/^\d+$/.test(value('size'))) throw new UploadRefused(`the size of ${name} is unknown`);
  if (size > maxBytes) {
    throw new UploadRefused(
      `${name} is ${formatBytes(size)}: the console uploads files up to ${formatBytes(maxBytes)}`,
    );
  }
  const chosen = value('job');
  if (chosen && !isJobName(chosen)) {
    throw new UploadRefused(`there is no job "${chosen}": the jobs are ${JOB_NAMES.join(', ')}`);
  }
  const key = `${UPLOADS_PREFIX}${now.toISOString().slice(0, 10)}/${name}`;
  const job = chooseJob(key, chosen || undefined, undefined);
  const ext = extensionOf(name) || '(none)';
  if (!job || !isJobName(job)) {
    throw new UploadRefused(
      `no job takes ${name}: its extension ${ext} is none of ${acceptedExtensions().join(', ')}`,
    );
  }
  const accepted = acceptedExtensions(job);
  if (!accepted.includes(extensionOf(name))) {
    throw new UploadRefused(`${job} reads ${accepted.join(', ')} files, not ${name} (${ext})`);
  }
  const processorType = value(INPUT_METADATA.processorType);
  if (processorType && !(PROCESSOR_TYPES as readonly string[]).includes(processorType)) {
    throw new UploadRefused(
      `processor-type "${processorType}" is none of ${PROCESSOR_TYPES.join(', ')} (or the default)`,
    );
  }
  const metadata: Record<string, string> = {
    ...(processorType ? { [INPUT_METADATA.processorType]: processorType } : {}),
    ...(chosen ? { [INPUT_METADATA.job]: chosen } : {}),
  };
  for (const field of OPTIONAL_METADATA) if (value(field)) metadata[field] = value(field);
  try {
    parseChunkMetadata(metadata);
  } catch (err) {
    if (err instanceof InvalidMetadataError) throw new UploadRefused(err.message);
    throw err;
  }
  const type = value('type');
  return {
    key,
    contentType: MIME_TYPE.test(type) ? type : 'application/octet-stream',
    job,
    metadata,
  };
}

/**
 * The presigned POST of `upload`. Its policy fixes the key, the Content-Type, each metadata value and the answer
 * (201, with the ETag), and bounds the size; any other field is refused by S3, as every form field must match
 * a condition.
 */
export function presignUpload(
  s3: S3Client,
  settings: UploadSettings,
  upload: PlannedUpload,
): Promise<PresignedPost> {
  const fields: Record<string, string> = {
    'Content-Type': upload.contentType,
    success_action_status: '201',
    ...Object.fromEntries(Object.entries(upload.metadata).map(([k, v]) => [`x-amz-meta-${k}`, v])),
  };
  const conditions: PresignedPostOptions['Conditions'] = [
    ['content-length-range', 0, settings.maxBytes ?? MAX_POST_BYTES],
  ];
  return createPresignedPost(s3, {
    Bucket: settings.bucket,
    Key: upload.key,
    Conditions: conditions,
    Fields: fields,
    Expires: POST_SECONDS,
  });
}

/** The origin the browser posts uploads to (the input bucket's endpoint), for the page's connect-src. */
export async function uploadOrigin(s3: S3Client, settings: UploadSettings): Promise<string> {
  const post = await createPresignedPost(s3, { Bucket: settings.bucket, Key: UPLOADS_PREFIX, Expires: 60 });
  return new URL(post.url).origin;
}

/**
 * The workflow ID of the uploaded object at `key` (its current version, as HeadObject finds it: ETag and
 * versionId), or undefined when there is no such object under the uploads prefix.
 */
export async function uploadedWorkflowId(
  s3: S3Client,
  settings: UploadSettings,
  key: string,
): Promise<string | undefined> {
  if (!key.startsWith(UPLOADS_PREFIX)) return undefined;
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: key }));
    return workflowIdFor({
      bucket: settings.bucket,
      key,
      etag: unquoteEtag(head.ETag ?? ''),
      ...(head.VersionId ? { versionId: head.VersionId } : {}),
    });
  } catch (err) {
    if (err instanceof NotFound || (err as { name?: string }).name === 'NotFound') return undefined;
    throw err;
  }
}
