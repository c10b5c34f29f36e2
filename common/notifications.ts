/**
 * What an SQS message body says: S3 event notifications (possibly several records, possibly wrapped in an
 * SNS envelope), S3's `s3:TestEvent`, or EventBridge "Object Created" events. Pure functions: no I/O. The ingress acts on what they say; the
 * console's dead-letter page shows which objects a dead letter names.
 */
import { unquoteEtag, type ObjectRef } from '../contract/objects';

export type ParsedMessage =
  /** Objects to process, each with the body of a message that notifies that object alone. */
  | { kind: 'objects'; objects: NotifiedObject[] }
  /** Nothing to do, delete it: S3's test event, or only non-creation records. */
  | { kind: 'ignore'; reason: string }
  /** Unusable: log it and leave it for the dead-letter queue. */
  | { kind: 'invalid'; reason: string };

export interface NotifiedObject {
  ref: ObjectRef;
  /** A message body for this object alone: the original body when it notifies only this object. */
  body: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** S3 notification keys are URL-encoded with `+` for a space, as in an HTML form. */
export function decodeS3Key(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

function objectRef(
  bucket: unknown,
  key: string,
  etag: unknown,
  versionId: unknown,
  size: unknown,
): ObjectRef {
  const ref: ObjectRef = { bucket: bucket as string, key };
  const quoted = str(etag);
  const e = quoted === undefined ? undefined : unquoteEtag(quoted);
  const v = str(versionId);
  const s = num(size);
  if (e) ref.etag = e;
  if (v && v !== 'null') ref.versionId = v;
  if (s !== undefined) ref.size = s;
  return ref;
}

function parseS3Records(records: unknown[], body: string): ParsedMessage {
  const objects: NotifiedObject[] = [];
  for (const [i, record] of records.entries()) {
    if (!isObject(record) || record.eventSource !== 'aws:s3' || !isObject(record.s3)) {
      return {
        kind: 'invalid',
        reason: `record ${i} is not an S3 event record (eventSource "aws:s3" with an s3 field)`,
      };
    }
    const eventName = str(record.eventName) ?? '';
    if (!eventName.startsWith('ObjectCreated:')) continue;
    const { bucket, object } = record.s3;
    const bucketName = isObject(bucket) ? str(bucket.name) : undefined;
    const encodedKey = isObject(object) ? str(object.key) : undefined;
    if (!bucketName || !encodedKey || !isObject(object)) {
      return { kind: 'invalid', reason: `record ${i} (${eventName}) has no s3.bucket.name or s3.object.key` };
    }
    let key: string;
    try {
      key = decodeS3Key(encodedKey);
    } catch {
      return {
        kind: 'invalid',
        reason: `record ${i} has a key that is not valid URL encoding: ${encodedKey}`,
      };
    }
    const ref = objectRef(bucketName, key, object.eTag, object.versionId, object.size);
    if (!ref.etag && !ref.versionId) {
      return {
        kind: 'invalid',
        reason: `record ${i} for s3://${bucketName}/${key} has neither eTag nor versionId`,
      };
    }
    objects.push({ ref, body: records.length === 1 ? body : JSON.stringify({ Records: [record] }) });
  }
  return objects.length > 0
    ? { kind: 'objects', objects }
    : { kind: 'ignore', reason: 'no ObjectCreated record in the notification' };
}

function parseEventBridge(event: Json, body: string): ParsedMessage {
  if (event['detail-type'] !== 'Object Created') {
    return {
      kind: 'ignore',
      reason: `EventBridge event "${String(event['detail-type'])}" is not Object Created`,
    };
  }
  const detail = isObject(event.detail) ? event.detail : {};
  const bucketName = isObject(detail.bucket) ? str(detail.bucket.name) : undefined;
  const object = isObject(detail.object) ? detail.object : undefined;
  const key = object ? str(object.key) : undefined;
  if (!bucketName || !object || !key) {
    return {
      kind: 'invalid',
      reason: 'EventBridge Object Created event without detail.bucket.name or detail.object.key',
    };
  }
  // EventBridge carries the key as is, not URL-encoded like S3 notifications.
  const ref = objectRef(bucketName, key, object.etag, object['version-id'], object.size);
  if (!ref.etag && !ref.versionId) {
    return {
      kind: 'invalid',
      reason: `EventBridge event for s3://${bucketName}/${key} has neither etag nor version-id`,
    };
  }
  return { kind: 'objects', objects: [{ ref, body }] };
}

/** Classifies one SQS message body. Never throws. */
export function parseMessageBody(body: string | undefined): ParsedMessage {
  if (!body) return { kind: 'invalid', reason: 'empty message body' };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return { kind: 'invalid', reason: `body is not JSON (${(err as Error).message}): ${body.slice(0, 120)}` };
  }
  if (!isObject(json)) return { kind: 'invalid', reason: 'body is JSON but not an object' };
  // S3 → SNS → SQS without raw delivery: the notification is the SNS envelope's Message.
  if (json.Type === 'Notification' && typeof json.Message === 'string') return parseMessageBody(json.Message);
  if (json.Event === 's3:TestEvent') return { kind: 'ignore', reason: 's3:TestEvent' };
  if (Array.isArray(json.Records)) {
    return json.Records.length > 0
      ? parseS3Records(json.Records, body)
      : { kind: 'invalid', reason: 'S3 notification with an empty Records array' };
  }
  if (json.source === 'aws.s3' && 'detail-type' in json) return parseEventBridge(json, body);
  return {
    kind: 'invalid',
    reason: 'not an S3 event notification (Records), an s3:TestEvent, nor an EventBridge aws.s3 event',
  };
}
