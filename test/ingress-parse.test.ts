/** Every message shape the ingress meets, and the workflow IDs it derives. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workflowIdFor } from '../common/ids';
import { decodeS3Key, parseMessageBody } from '../common/notifications';

function s3Record(key: string, extra: Record<string, unknown> = {}) {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    eventName: 'ObjectCreated:Put',
    s3: { bucket: { name: 'in' }, object: { key, size: 12, eTag: 'e1', sequencer: '01', ...extra } },
  };
}

const objectsOf = (body: unknown) => {
  const parsed = parseMessageBody(JSON.stringify(body));
  assert.equal(parsed.kind, 'objects', JSON.stringify(parsed));
  return parsed.kind === 'objects' ? parsed.objects : [];
};

describe('S3 key decoding', () => {
  it('turns + into a space and decodes %XX escapes and UTF-8', () => {
    assert.equal(decodeS3Key('Q1+report%2Bfinal%2C+%C3%BC%25.csv'), 'Q1 report+final, ü%.csv');
    assert.equal(decodeS3Key('a%2Fb/c.csv'), 'a/b/c.csv');
  });
});

describe('message parsing', () => {
  it('reads an S3 notification: bucket, decoded key, ETag, size and versionId', () => {
    const [object] = objectsOf({ Records: [s3Record('in/my+file%C3%A9.csv', { versionId: 'v9' })] });
    assert.deepEqual(object?.ref, {
      bucket: 'in',
      key: 'in/my fileé.csv',
      etag: 'e1',
      versionId: 'v9',
      size: 12,
    });
  });

  it('keeps the original body for a single record and gives each of several records a body of its own', () => {
    const single = { Records: [s3Record('a.csv')] };
    assert.equal(objectsOf(single)[0]?.body, JSON.stringify(single));
    const several = objectsOf({ Records: [s3Record('a.csv'), s3Record('b.csv')] });
    assert.deepEqual(
      several.map((o) => o.ref.key),
      ['a.csv', 'b.csv'],
    );
    assert.deepEqual(JSON.parse(several[1]!.body), { Records: [s3Record('b.csv')] });
  });

  it('ignores s3:TestEvent and records that are not ObjectCreated', () => {
    const test = {
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: '2026-01-01T00:00:00.000Z',
      Bucket: 'in',
    };
    assert.equal(parseMessageBody(JSON.stringify(test)).kind, 'ignore');
    const removed = { Records: [{ ...s3Record('a.csv'), eventName: 'ObjectRemoved:Delete' }] };
    assert.equal(parseMessageBody(JSON.stringify(removed)).kind, 'ignore');
  });

  it('accepts EventBridge "Object Created" events, whose keys are not URL-encoded', () => {
    const [object] = objectsOf({
      version: '0',
      'detail-type': 'Object Created',
      source: 'aws.s3',
      detail: {
        bucket: { name: 'in' },
        object: { key: 'reports/a+b c.csv', size: 5, etag: 'e2', 'version-id': 'v2' },
      },
    });
    assert.deepEqual(object?.ref, {
      bucket: 'in',
      key: 'reports/a+b c.csv',
      etag: 'e2',
      versionId: 'v2',
      size: 5,
    });
  });

  it('unwraps an S3 notification delivered through SNS', () => {
    const inner = { Records: [s3Record('x.txt')] };
    const [object] = objectsOf({ Type: 'Notification', Message: JSON.stringify(inner) });
    assert.equal(object?.ref.key, 'x.txt');
  });

  for (const [name, body] of [
    ['an empty body', ''],
    ['text that is not JSON', 'hello'],
    ['a JSON array', '[1,2]'],
    ['an unknown JSON object', '{"foo":1}'],
    ['an empty Records array', '{"Records":[]}'],
    ['a record from another service', JSON.stringify({ Records: [{ eventSource: 'aws:sqs' }] })],
    ['a key with broken escapes', JSON.stringify({ Records: [s3Record('bad%E0%A4%A.csv')] })],
    [
      'a record without ETag or version',
      JSON.stringify({ Records: [s3Record('a.csv', { eTag: undefined })] }),
    ],
  ] as const) {
    it(`calls ${name} invalid, with a reason, without throwing`, () => {
      const parsed = parseMessageBody(body);
      assert.equal(parsed.kind, 'invalid');
      assert.ok(parsed.kind === 'invalid' && parsed.reason.length > 5);
    });
  }
});

describe('workflow IDs', () => {
  it('are the same for every notification of one object version and differ across versions', () => {
    const a = workflowIdFor({ bucket: 'in', key: 'a.csv', etag: 'e1' });
    assert.equal(a, workflowIdFor({ bucket: 'in', key: 'a.csv', etag: 'e1', size: 3 }));
    assert.notEqual(a, workflowIdFor({ bucket: 'in', key: 'a.csv', etag: 'e2' }));
    assert.equal(
      workflowIdFor({ bucket: 'in', key: 'a.csv', etag: 'e1', versionId: 'v1' }),
      'file:in/a.csv@v1',
      'a versionId names the version when there is one',
    );
  });

  it('hash long keys to stay short while remaining unique and readable', () => {
    const long = 'deep/'.repeat(300) + 'file.csv';
    const id = workflowIdFor({ bucket: 'in', key: long, etag: 'e1' });
    assert.ok(Buffer.byteLength(id) <= 200, `${Buffer.byteLength(id)} bytes`);
    assert.ok(id.startsWith('file:in/deep/'));
    assert.notEqual(id, workflowIdFor({ bucket: 'in', key: long.replace('file', 'other'), etag: 'e1' }));
  });
});
