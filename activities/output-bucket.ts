/** The S3 requests the activities make of the output bucket: read a text object, list a prefix, write text or JSON, delete keys. */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isNotFound } from '../common/aws';

/** DeleteObjects takes at most this many keys a request. */
const DELETE_BATCH = 1000;

export type OutputBucket = ReturnType<typeof outputBucketOf>;

export function outputBucketOf(s3: S3Client, bucket: string) {
  /** Keys and sizes under `prefix`, a ListObjectsV2 page (up to 1,000) at a time, in key order. */
  async function* pages(prefix: string): AsyncGenerator<{ key: string; size: number }[]> {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      yield (page.Contents ?? []).flatMap((o) => (o.Key ? [{ key: o.Key, size: o.Size ?? 0 }] : []));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Writes `body` with its content type. */
  async function putText(key: string, body: string, contentType: string): Promise<void> {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: contentType, Body: body }));
  }

  return {
    name: bucket,
    pages,
    putText,

    /** An object as text, with its ETag; undefined when there is none. */
    async getText(key: string): Promise<{ text: string; etag?: string } | undefined> {
      try {
        const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return { text: await res.Body!.transformToString(), ...(res.ETag ? { etag: res.ETag } : {}) };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },

    /** Keys and sizes under `prefix`. */
    async list(prefix: string): Promise<Map<string, number>> {
      const found = new Map<string, number>();
      for await (const page of pages(prefix)) for (const o of page) found.set(o.key, o.size);
      return found;
    },

    /** Writes `value` as JSON, `indent` spaces deep (none: one line). */
    async putJson(key: string, value: unknown, indent?: number): Promise<void> {
      await putText(key, JSON.stringify(value, null, indent), 'application/json');
    },

    /** Deletes `keys`, a thousand a request. */
    async deleteKeys(keys: readonly string[]): Promise<void> {
      for (let i = 0; i < keys.length; i += DELETE_BATCH) {
        await s3.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: keys.slice(i, i + DELETE_BATCH).map((Key) => ({ Key })), Quiet: true },
          }),
        );
      }
    },
  };
}
