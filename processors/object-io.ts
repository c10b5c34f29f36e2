/**
 * Where processors read and write: local files (the CLI, tests) or S3 objects (containers). Outputs are
 * all-or-nothing: an S3 upload only becomes visible when it completes, a local file only when it is renamed
 * into place, so a failed run never leaves a partial output behind.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import { CopyObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { isNoSuchBucket, isNotFound, isPreconditionFailed, parseS3Uri, s3Metadata } from '../common/aws';
import { InputMissingError } from '../contract/failures';
import { unquoteEtag } from '../contract/objects';

/** A local file or an S3 object; for an input, `etag` / `versionId` pin the exact version to read. */
export type Location =
  | { kind: 'file'; path: string }
  | { kind: 's3'; bucket: string; key: string; etag?: string; versionId?: string };

/** Bytes `[start, end)` of an input (`end` exclusive). */
export interface ByteRange {
  start: number;
  end: number;
}

/** An opened input. */
export interface InputHandle {
  stream: Readable;
  /** Bytes the stream will deliver (the range's length for a ranged read), when known up front. */
  contentLength?: number;
  /** Size of the whole file or object, when known. */
  size?: number;
  /** ETag of the object version being read, without quotes (S3 only). */
  etag?: string;
  /** S3 versionId of the object version being read (versioned buckets only). */
  versionId?: string;
}

/** What an output is written with. */
export interface OutputOptions {
  contentType: string;
  /** S3 user metadata (`x-amz-meta-*`); ignored for local files. Values are encoded by {@link s3Metadata}. */
  metadata: Record<string, string>;
}

/** What {@link OutputHandle.done} resolves to: the output as stored. */
export interface StoredOutput {
  /** Bytes written. */
  bytes: number;
  /** ETag of the object written, without quotes (S3 only). */
  etag?: string;
}

/** An output being written. End `stream` on success, then await `done`; call `abort` on failure instead. */
export interface OutputHandle {
  stream: Writable;
  /** Resolves once the output is in place; rejects if storing it failed. */
  done: Promise<StoredOutput>;
  /** Discards everything written so far: the destination is left as it was. Safe to call more than once. */
  abort(): Promise<void>;
}

const PART_SIZE = 8 * 1024 * 1024;
/** Parts in flight per upload: with {@link PART_SIZE}, at most about 32 MiB of output held in memory. */
const UPLOAD_QUEUE_SIZE = 4;
/** Large reads make the CSV scanner's per-chunk overhead negligible. */
const FILE_READ_CHUNK = 1024 * 1024;

/** `s3://bucket/key` or the path itself. */
export function describeLocation(location: Location): string {
  return location.kind === 's3' ? `s3://${location.bucket}/${location.key}` : location.path;
}

/** Reads a command-line argument: an `s3://bucket/key` URI, otherwise a local path. */
export function parseLocation(arg: string): Location {
  if (arg.startsWith('s3://')) {
    const s3 = parseS3Uri(arg);
    if (!s3) throw new Error(`${arg} is not a valid S3 URI: expected s3://bucket/key`);
    return { kind: 's3', ...s3 };
  }
  return { kind: 'file', path: arg };
}

/**
 * A ranged read asked for bytes the file or object does not have: the range was planned for another version
 * of it, or is wrong. Thrown by {@link openInput}.
 */
export class RangeNotSatisfiableError extends Error {
  override name = 'RangeNotSatisfiableError';
}

function rangeBeyondEnd(uri: string, range: ByteRange, size: number | undefined): RangeNotSatisfiableError {
  return new RangeNotSatisfiableError(
    `bytes ${range.start}-${range.end - 1} of ${uri} do not exist: it has ${size === undefined ? 'fewer' : size} bytes`,
  );
}

/** True for S3's answer to a range that starts at or after the object's end. */
function isInvalidRange(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'InvalidRange' || e?.$metadata?.httpStatusCode === 416;
}

/** The object's total size from a `Content-Range: bytes START-END/SIZE` answer. */
function totalOf(contentRange: string | undefined): number | undefined {
  const match = /\/(\d+)$/.exec(contentRange ?? '');
  return match ? Number(match[1]) : undefined;
}

function requireS3(s3: S3Client | undefined, location: Location): S3Client {
  if (!s3) throw new Error(`no S3 client was given to access ${describeLocation(location)}`);
  return s3;
}

/**
 * Opens `location` for reading, all of it or only `range`. An S3 read is pinned to `etag` (`If-Match`) and
 * `versionId` when given; a range is a ranged GetObject.
 * @param s3 required for an S3 location.
 * @throws InputMissingError if the file or object does not exist, or is no longer the pinned version.
 * @throws RangeNotSatisfiableError if `range` ends after the file or object.
 */
export async function openInput(location: Location, s3?: S3Client, range?: ByteRange): Promise<InputHandle> {
  if (range && !(Number.isSafeInteger(range.start) && range.start >= 0 && range.end > range.start)) {
    throw new RangeError(`invalid byte range [${range.start}, ${range.end})`);
  }
  if (location.kind === 'file') return openLocalInput(location.path, range);
  const client = requireS3(s3, location);
  const uri = describeLocation(location);
  try {
    const res = await client.send(
      new GetObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        ...(location.etag ? { IfMatch: `"${unquoteEtag(location.etag)}"` } : {}),
        ...(location.versionId ? { VersionId: location.versionId } : {}),
        ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
      }),
    );
    if (!(res.Body instanceof Readable)) throw new Error(`GetObject ${uri} returned no readable body`);
    const size = range ? totalOf(res.ContentRange) : res.ContentLength;
    if (range && (size === undefined || size < range.end)) {
      res.Body.destroy();
      throw rangeBeyondEnd(uri, range, size);
    }
    return {
      stream: res.Body,
      ...(res.ContentLength !== undefined ? { contentLength: res.ContentLength } : {}),
      ...(size !== undefined ? { size } : {}),
      ...(res.ETag ? { etag: unquoteEtag(res.ETag) } : {}),
      ...(res.VersionId && res.VersionId !== 'null' ? { versionId: res.VersionId } : {}),
    };
  } catch (err) {
    if (range && isInvalidRange(err)) throw rangeBeyondEnd(uri, range, undefined);
    if (isNoSuchBucket(err)) {
      throw new InputMissingError(
        `bucket ${location.bucket} of ${uri} does not exist; check the bucket name`,
        {
          cause: err,
        },
      );
    }
    if (isNotFound(err)) {
      const version = location.versionId ? ` (version ${location.versionId})` : '';
      throw new InputMissingError(
        `${uri}${version} does not exist (deleted or never written); upload it again`,
        {
          cause: err,
        },
      );
    }
    if (isPreconditionFailed(err)) {
      throw new InputMissingError(
        `${uri} changed since it was notified: it no longer has ETag ${location.etag ?? '?'} (a newer upload replaced it). ` +
          'The newer version is processed on its own notification; nothing to do for this one',
        { cause: err },
      );
    }
    throw err;
  }
}

async function openLocalInput(path: string, range: ByteRange | undefined): Promise<InputHandle> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be opened (${code ?? String(err)})`;
    throw new InputMissingError(`${path} ${why}; check the path`, { cause: err });
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new InputMissingError(`${path} is not a regular file; give the path of a file`);
  }
  if (range && range.end > stat.size) {
    await handle.close();
    throw rangeBeyondEnd(path, range, stat.size);
  }
  return {
    stream: handle.createReadStream({
      highWaterMark: FILE_READ_CHUNK,
      ...(range ? { start: range.start, end: range.end - 1 } : {}),
    }),
    contentLength: range ? range.end - range.start : stat.size,
    size: stat.size,
  };
}

/**
 * Opens `location` for writing. S3: a streaming multipart upload (8 MiB parts, 4 in flight) that creates the
 * object only when `stream` ends. Local: a temporary file next to the destination, renamed over it when
 * `stream` has finished.
 * @param s3 required for an S3 location.
 */
export async function openOutput(
  location: Location,
  opts: OutputOptions,
  s3?: S3Client,
): Promise<OutputHandle> {
  if (location.kind === 'file') return openLocalOutput(location.path);
  const body = new CountingPassThrough();
  const upload = new Upload({
    client: requireS3(s3, location),
    params: {
      Bucket: location.bucket,
      Key: location.key,
      Body: body,
      ContentType: opts.contentType,
      Metadata: s3Metadata(opts.metadata),
    },
    queueSize: UPLOAD_QUEUE_SIZE,
    partSize: PART_SIZE,
    leavePartsOnError: false,
  });
  const done = upload
    .done()
    .then((res) => ({ bytes: body.bytes, ...(res.ETag ? { etag: unquoteEtag(res.ETag) } : {}) }));
  // Observed here so that a failure while nobody awaits `done` yet cannot crash the process.
  done.catch(() => undefined);
  return {
    stream: body,
    done,
    async abort() {
      // Failing the body (instead of only Upload.abort(), which returns at once) lets the upload abort its
      // multipart upload and settle `done`, so no parts are left behind when the process exits.
      body.destroy(new Error(`output to ${describeLocation(location)} aborted`));
      await done.catch(() => undefined);
      await upload.abort();
    },
  };
}

async function openLocalOutput(path: string): Promise<OutputHandle> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.partial`);
  const stream = createWriteStream(temp, { flags: 'wx' });
  let aborted = false;
  const done = finished(stream)
    .then(async () => {
      if (aborted) throw new Error(`output to ${path} aborted`);
      await rename(temp, path);
      return { bytes: stream.bytesWritten };
    })
    .catch(async (err: unknown) => {
      await rm(temp, { force: true });
      throw err;
    });
  done.catch(() => undefined);
  return {
    stream,
    done,
    async abort() {
      aborted = true;
      stream.destroy();
      await done.catch(() => undefined);
    },
  };
}

/**
 * A small output, held in memory and written in one PutObject by `put`, with the metadata known by then (a
 * CSV job's row counts), so that it needs no CopyObject afterwards. End `stream`, then call `put`; or `abort`.
 */
export interface BufferedOutput {
  stream: Writable;
  put(opts: OutputOptions): Promise<StoredOutput>;
  abort(): Promise<void>;
}

export function openBufferedOutput(
  location: Extract<Location, { kind: 's3' }>,
  s3: S3Client,
): BufferedOutput {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      bytes += chunk.length;
      callback();
    },
  });
  const written = finished(stream);
  written.catch(() => undefined);
  return {
    stream,
    async put(opts) {
      await written;
      const res = await s3.send(
        new PutObjectCommand({
          Bucket: location.bucket,
          Key: location.key,
          Body: Buffer.concat(chunks, bytes),
          ContentType: opts.contentType,
          Metadata: s3Metadata(opts.metadata),
        }),
      );
      return { bytes, ...(res.ETag ? { etag: unquoteEtag(res.ETag) } : {}) };
    },
    async abort() {
      stream.destroy(new Error(`output to ${describeLocation(location)} aborted`));
      chunks.length = 0;
      await written.catch(() => undefined);
    },
  };
}

/** A PassThrough that counts the bytes through it (a PassThrough is a Transform that does only this). */
class CountingPassThrough extends Transform {
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/** The largest object one CopyObject can copy. */
export const MAX_COPY_OBJECT_BYTES = 5 * 1024 ** 3;

/**
 * Replaces the user metadata (and sets the content type) of an S3 object already written, for what is only
 * known once it is: a CopyObject onto itself, so no byte goes through this process. Objects above
 * {@link MAX_COPY_OBJECT_BYTES} would need a multipart copy and are left as they are.
 * @param stored the object as {@link openOutput} wrote it: its ETag pins the copy to that write, so that a
 *   newer write of the same key is never overwritten with this one.
 * @returns false if the object was too large to copy.
 */
export async function replaceMetadata(
  location: Extract<Location, { kind: 's3' }>,
  opts: OutputOptions,
  stored: StoredOutput,
  s3: S3Client,
): Promise<boolean> {
  if (stored.bytes > MAX_COPY_OBJECT_BYTES) return false;
  await s3.send(
    new CopyObjectCommand({
      Bucket: location.bucket,
      Key: location.key,
      CopySource: `${location.bucket}/${location.key.split('/').map(encodeURIComponent).join('/')}`,
      ...(stored.etag ? { CopySourceIfMatch: `"${stored.etag}"` } : {}),
      MetadataDirective: 'REPLACE',
      ContentType: opts.contentType,
      Metadata: s3Metadata(opts.metadata),
    }),
  );
  return true;
}
