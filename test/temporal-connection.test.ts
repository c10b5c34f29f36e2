/**
 * The Temporal connection as Temporal's own tools configure it (@temporalio/envconfig, common/temporal.ts):
 * the TEMPORAL_* variables over the selected profile of temporal.toml over the defaults; a missing profile,
 * a file that is not TOML or a certificate that cannot be read is a ConfigError naming it and the fix. The
 * last test connects to a dev server through a profile, as the worker and the console do.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError } from '../common/config';
import { temporalConnection, temporalUnreachable } from '../common/temporal';
import { createTestEnvironment } from './support/temporal';

const dir = mkdtempSync(join(tmpdir(), 'temporal-toml-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const crt = write('client.pem', '-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n');
const key = write('client.key', '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n');
const ca = write('ca.pem', '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n');
const toml = write(
  'temporal.toml',
  `[profile.default]
address = "127.0.0.1:7233"
namespace = "local"

[profile.cloud]
address = "ns.acct.tmprl.cloud:7233"
namespace = "ns.acct"
api_key = "cloud-key"

[profile.mtls]
address = "temporal.internal:7233"
namespace = "prod"
[profile.mtls.tls]
client_cert_path = "${crt}"
client_key_path = "${key}"
server_ca_cert_path = "${ca}"
server_name = "temporal.internal"
[profile.mtls.grpc_meta]
x-team = "files"

[profile.broken]
address = "temporal.internal:7233"
[profile.broken.tls]
client_cert_path = "${crt}"
client_key_path = "${join(dir, 'missing.key')}"
`,
);

/** An environment of only these variables; HOME is the temp directory, so no user's temporal.toml is read. */
const only = (vars: Record<string, string>): NodeJS.ProcessEnv => ({ HOME: dir, ...vars });
const withFile = (vars: Record<string, string> = {}) => only({ TEMPORAL_CONFIG_FILE: toml, ...vars });

function configError(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, pattern);
    return true;
  };
}

describe('the Temporal connection (envconfig)', () => {
  it('defaults to localhost:7233 and namespace default without a file or variables', () => {
    assert.deepEqual(temporalConnection(only({})), {
      connectionOptions: { address: 'localhost:7233' },
      namespace: 'default',
    });
  });

  it('selects the profile TEMPORAL_PROFILE names in TEMPORAL_CONFIG_FILE, else the default profile', () => {
    assert.deepEqual(temporalConnection(withFile()), {
      connectionOptions: { address: '127.0.0.1:7233' },
      namespace: 'local',
    });
    assert.deepEqual(temporalConnection(withFile({ TEMPORAL_PROFILE: 'cloud' })), {
      connectionOptions: { address: 'ns.acct.tmprl.cloud:7233', apiKey: 'cloud-key', tls: true },
      namespace: 'ns.acct',
    });
  });

  it('lets the environment override the profile, key by key', () => {
    const { connectionOptions, namespace } = temporalConnection(
      withFile({
        TEMPORAL_PROFILE: 'cloud',
        TEMPORAL_NAMESPACE: 'other.acct',
        TEMPORAL_API_KEY: 'env-key',
        // An empty variable is unset, as for every variable of common/config.ts.
        TEMPORAL_ADDRESS: '',
      }),
    );
    assert.equal(namespace, 'other.acct');
    assert.equal(connectionOptions.address, 'ns.acct.tmprl.cloud:7233');
    assert.equal(connectionOptions.apiKey, 'env-key');
    assert.equal(connectionOptions.tls, true);
    const plain = temporalConnection(
      withFile({ TEMPORAL_PROFILE: 'cloud', TEMPORAL_ADDRESS: 'proxy:7233', TEMPORAL_TLS: 'false' }),
    );
    assert.equal(plain.connectionOptions.address, 'proxy:7233');
    assert.equal(plain.connectionOptions.tls, false);
  });

  it('reads the mTLS pair, the CA and the server name of a profile, and its gRPC metadata', () => {
    const { connectionOptions, namespace } = temporalConnection(withFile({ TEMPORAL_PROFILE: 'mtls' }));
    assert.equal(namespace, 'prod');
    assert.equal(connectionOptions.address, 'temporal.internal:7233');
    const tls = connectionOptions.tls;
    assert.ok(tls && typeof tls === 'object');
    assert.deepEqual(Buffer.from(tls.clientCertPair!.crt), readFileSync(crt));
    assert.deepEqual(Buffer.from(tls.clientCertPair!.key), readFileSync(key));
    assert.deepEqual(Buffer.from(tls.serverRootCACertificate!), readFileSync(ca));
    assert.equal(tls.serverNameOverride, 'temporal.internal');
    assert.deepEqual(connectionOptions.metadata, { 'x-team': 'files' });

    const other = write('other.pem', 'other certificate');
    const overridden = temporalConnection(
      withFile({
        TEMPORAL_PROFILE: 'mtls',
        TEMPORAL_TLS_CLIENT_CERT_PATH: other,
        TEMPORAL_GRPC_META_X_TEAM: 'ops',
      }),
    ).connectionOptions;
    const overriddenTls = overridden.tls;
    assert.ok(overriddenTls && typeof overriddenTls === 'object');
    assert.equal(Buffer.from(overriddenTls.clientCertPair!.crt).toString(), 'other certificate');
    assert.deepEqual(overridden.metadata, { 'x-team': 'ops' });
  });

  it('reads mTLS from the variables alone, and refuses half a pair', () => {
    const tls = temporalConnection(
      only({ TEMPORAL_TLS_CLIENT_CERT_PATH: crt, TEMPORAL_TLS_CLIENT_KEY_PATH: key }),
    ).connectionOptions.tls;
    assert.ok(tls && typeof tls === 'object');
    assert.deepEqual(Buffer.from(tls.clientCertPair!.key), readFileSync(key));
    assert.throws(
      () => temporalConnection(only({ TEMPORAL_TLS_CLIENT_CERT_PATH: crt })),
      configError(/TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH .*go together/),
    );
  });

  it('names the missing profile, the file and the profiles it has', () => {
    assert.throws(
      () => temporalConnection(withFile({ TEMPORAL_PROFILE: 'staging' })),
      configError(
        new RegExp(
          `^TEMPORAL_PROFILE=staging: no \\[profile\\.staging\\] in TEMPORAL_CONFIG_FILE=${toml} \\(its profiles: default, cloud, mtls, broken\\)\\. Add the profile`,
        ),
      ),
    );
    assert.throws(
      () => temporalConnection(only({ TEMPORAL_PROFILE: 'staging' })),
      configError(/^TEMPORAL_PROFILE=staging: no \[profile\.staging\] in .*temporal\.toml \(no such file\)/),
    );
  });

  it('names a file that is missing or not TOML', () => {
    const missing = join(dir, 'nope.toml');
    assert.throws(
      () => temporalConnection(only({ TEMPORAL_CONFIG_FILE: missing })),
      configError(new RegExp(`^TEMPORAL_CONFIG_FILE: no file at ${missing}\\. Point it at a temporal.toml`)),
    );
    const empty = write('empty.toml', '');
    assert.throws(
      () => temporalConnection(only({ TEMPORAL_CONFIG_FILE: empty })),
      configError(
        /^TEMPORAL_CONFIG_FILE=.*empty\.toml: cannot read it .*\(it has no \[profile\.NAME\] table\)/,
      ),
    );
    const bad = write('bad.toml', '[profile.default\naddress = 1');
    assert.throws(
      () => temporalConnection(only({ TEMPORAL_CONFIG_FILE: bad })),
      configError(
        new RegExp(
          `^TEMPORAL_CONFIG_FILE=${bad}: cannot read it as Temporal's client configuration \\(Invalid TOML document: .* at line 1, column \\d+\\)\\. Fix`,
        ),
      ),
    );
  });

  it('names the variable or the profile key of a certificate it cannot read', () => {
    assert.throws(
      () =>
        temporalConnection(
          only({ TEMPORAL_TLS_CLIENT_CERT_PATH: '/nope.pem', TEMPORAL_TLS_CLIENT_KEY_PATH: key }),
        ),
      configError(
        /^TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read \/nope\.pem \(.*\)\. Point it at a PEM file\./,
      ),
    );
    assert.throws(
      () => temporalConnection(withFile({ TEMPORAL_PROFILE: 'broken' })),
      configError(
        new RegExp(
          `^tls\\.client_key_path of profile broken in ${toml}: cannot read ${join(dir, 'missing.key')}`,
        ),
      ),
    );
  });

  it('says which address it could not reach and how to change it', () => {
    const err = temporalUnreachable('ns.acct.tmprl.cloud:7233', new Error('timed out'));
    assert.match(err.message, /cannot reach Temporal at ns\.acct\.tmprl\.cloud:7233 \(timed out\)/);
    assert.match(err.message, /TEMPORAL_ADDRESS or choose a temporal\.toml profile with TEMPORAL_PROFILE/);
  });

  it('stops the worker at start-up on a missing profile, before connecting', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join('workers', 'main.ts')], {
      cwd: join(__dirname, '..'),
      env: {
        PATH: process.env.PATH,
        OUTPUT_BUCKET: 'out',
        ...withFile({ TEMPORAL_PROFILE: 'staging' }),
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.notEqual(run.status, 0, run.stderr);
    assert.match(run.stderr, /TEMPORAL_PROFILE=staging: no \[profile\.staging\] in TEMPORAL_CONFIG_FILE=/);
    assert.doesNotMatch(run.stderr, /Temporal at/);
  });

  it('connects a client and a worker connection to a dev server through a profile', async () => {
    const server = await createTestEnvironment();
    try {
      const local = write(
        'local.toml',
        `[profile.default]\naddress = "127.0.0.1:1"\n\n[profile.dev]\naddress = "${server.address}"\nnamespace = "default"\n`,
      );
      const { connectionOptions, namespace } = temporalConnection(
        only({ TEMPORAL_CONFIG_FILE: local, TEMPORAL_PROFILE: 'dev' }),
      );
      assert.equal(connectionOptions.address, server.address);
      const connection = await Connection.connect({ ...connectionOptions, connectTimeout: 5000 });
      try {
        const { namespaceInfo } = await connection.workflowService.describeNamespace({ namespace });
        assert.equal(namespaceInfo?.name, 'default');
        const client = new Client({ connection, namespace });
        assert.equal(await client.workflow.count().then((c) => typeof c.count), 'number');
      } finally {
        await connection.close();
      }
      const native = await NativeConnection.connect(connectionOptions);
      await native.close();
    } finally {
      await server.teardown();
    }
  });
});
