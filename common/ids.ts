/** Deterministic workflow IDs: every notification of one object version maps to the same workflow. */
import { createHash } from 'node:crypto';
import type { ObjectRef } from '../contract/objects';

/** Room left for a readable ID; Temporal accepts 1000 bytes, but UIs and logs prefer short ones. */
const MAX_READABLE_BYTES = 200;

/** The version that identifies an object's content: the S3 versionId, else its ETag. */
export function objectVersion(ref: Pick<ObjectRef, 'etag' | 'versionId'>): string {
  const version = ref.versionId && ref.versionId !== 'null' ? ref.versionId : ref.etag;
  if (!version) throw new Error('an object reference needs a versionId or an ETag to name its workflow');
  return version;
}

/**
 * `file:BUCKET/KEY@VERSION`, or for long keys a readable prefix followed by a SHA-256 of the whole,
 * so the ID stays within limits and still tells a person which file it is.
 */
export function workflowIdFor(ref: ObjectRef): string {
  const version = objectVersion(ref);
  const readable = `file:${ref.bucket}/${ref.key}@${version}`;
  if (Buffer.byteLength(readable) <= MAX_READABLE_BYTES) return readable;
  const hash = createHash('sha256')
    .update(`${ref.bucket}\0${ref.key}\0${version}`)
    .digest('hex')
    .slice(0, 32);
  const prefix = Buffer.from(`file:${ref.bucket}/${ref.key}`)
    .subarray(0, 120)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return `${prefix}…#${hash}`;
}
