/** Configuration fails fast with messages that name the variable, its meaning and the fix. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../common/config';
import { temporalConnectionOptions } from '../common/temporal';

describe('configuration', () => {
  it('applies documented defaults', () => {
    const c = loadConfig('worker', ['TEMPORAL_ADDRESS', 'TEMPORAL_TASK_QUEUE', 'INGRESS_WAIT_SECONDS'], {});
    assert.deepEqual(c, {
      TEMPORAL_ADDRESS: 'localhost:7233',
      TEMPORAL_TASK_QUEUE: 'file-pipeline',
      INGRESS_WAIT_SECONDS: 20,
    });
  });

  it('names every missing or invalid variable, what it got and what it is for', () => {
    assert.throws(
      () =>
        loadConfig('ingress', ['QUEUE_URL', 'INGRESS_WAIT_SECONDS', 'TEMPORAL_TLS'], {
          INGRESS_WAIT_SECONDS: '60',
          TEMPORAL_TLS: 'maybe',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^ingress: invalid configuration/);
        assert.match(err.message, /QUEUE_URL: required but not set\. QUEUE_URL is the URL of the SQS queue/);
        assert.match(err.message, /INGRESS_WAIT_SECONDS: .*got "60".*long-poll wait time/);
        assert.match(err.message, /TEMPORAL_TLS: .*got "maybe"/);
        return true;
      },
    );
  });

  it('connects to Temporal Cloud with an API key over TLS, and rejects half an mTLS pair', () => {
    const base = { TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_TLS: false };
    assert.deepEqual(temporalConnectionOptions({ ...base, TEMPORAL_API_KEY: 'k' }), {
      address: base.TEMPORAL_ADDRESS,
      apiKey: 'k',
      tls: {},
    });
    assert.deepEqual(temporalConnectionOptions(base), { address: base.TEMPORAL_ADDRESS });
    assert.throws(
      () => temporalConnectionOptions({ ...base, TEMPORAL_TLS_CERT_PATH: '/c.pem' }),
      /go together/,
    );
    assert.throws(
      () =>
        temporalConnectionOptions({
          ...base,
          TEMPORAL_TLS_CERT_PATH: '/nope.pem',
          TEMPORAL_TLS_KEY_PATH: '/nope.key',
        }),
      /TEMPORAL_TLS_CERT_PATH: cannot read \/nope.pem/,
    );
  });
});
