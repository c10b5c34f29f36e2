/** Configuration fails fast with messages that name the variable, its meaning and the fix. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  AWS_MODE_VARIABLES,
  checkComputeMode,
  ConfigError,
  ENV,
  loadConfig,
  WORKER_VARIABLES,
} from '../common/config';

describe('configuration', () => {
  it('applies documented defaults', () => {
    // The Temporal connection's defaults are envconfig's (test/temporal-connection.test.ts).
    const c = loadConfig('worker', ['TEMPORAL_TASK_QUEUE', 'INGRESS_WAIT_SECONDS'], {});
    assert.deepEqual(c, {
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

  it('stops a worker in aws mode at start-up when subnets or security groups are missing', () => {
    const worker = (env: NodeJS.ProcessEnv) => {
      checkComputeMode('worker', loadConfig('worker', WORKER_VARIABLES, { OUTPUT_BUCKET: 'out', ...env }));
    };
    assert.throws(
      () => worker({ COMPUTE_MODE: 'aws', ECS_SECURITY_GROUPS: ' , ' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^worker: invalid configuration/);
        assert.match(
          err.message,
          /\n {2}ECS_SUBNETS: required with COMPUTE_MODE=aws but not set\. ECS_SUBNETS is the comma-separated private subnet IDs/,
        );
        assert.match(
          err.message,
          /\n {2}ECS_SECURITY_GROUPS: required with COMPUTE_MODE=aws but not set\. .*security group IDs/,
        );
        assert.match(err.message, /Set the variable\(s\) in the environment \(or COMPUTE_MODE=local/);
        return true;
      },
    );
    assert.throws(
      () => worker({ COMPUTE_MODE: 'aws', ECS_SUBNETS: 'subnet-1' }),
      (err: unknown) => err instanceof ConfigError && !/ECS_SUBNETS/.test(err.message),
    );
    worker({ COMPUTE_MODE: 'aws', ECS_SUBNETS: 'subnet-1,subnet-2', ECS_SECURITY_GROUPS: 'sg-1' });
    worker({ COMPUTE_MODE: 'local' });
    worker({});
    for (const name of AWS_MODE_VARIABLES) assert.ok(WORKER_VARIABLES.includes(name), name);
  });

  it('runs that check in the worker process, before it connects to Temporal', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join('workers', 'main.ts')], {
      cwd: join(__dirname, '..'),
      env: {
        PATH: process.env.PATH,
        COMPUTE_MODE: 'aws',
        OUTPUT_BUCKET: 'out',
        ECS_SECURITY_GROUPS: 'sg-1',
        // Refused at once, should the worker get that far.
        TEMPORAL_ADDRESS: '127.0.0.1:1',
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 1, run.stderr);
    assert.match(
      run.stderr,
      /^worker: invalid configuration:\n {2}ECS_SUBNETS: required with COMPUTE_MODE=aws/,
    );
    assert.doesNotMatch(run.stderr, /ECS_SECURITY_GROUPS|Temporal at/);
  });

  it('lists every variable in the configuration table of README.md', () => {
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const section = /\n## Configuration\n([\s\S]*?)(?:\n## |$)/.exec(readme)?.[1] ?? '';
    const rows = section.split('\n').filter((line) => /^\| `/.test(line));
    const documented = rows.flatMap((row) =>
      [...(row.split('|')[1] ?? '').matchAll(/`(\w+)`/g)].map((m) => m[1]),
    );
    assert.deepEqual(
      Object.keys(ENV).filter((name) => !documented.includes(name)),
      [],
      'variables of common/config.ts missing from the table',
    );
    assert.deepEqual(
      documented.filter((name) => !Object.hasOwn(ENV, name!)),
      [],
      'rows naming no variable of common/config.ts',
    );
  });
});
