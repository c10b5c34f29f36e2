/**
 * `npm run setup:temporal` against a bare Temporal dev server, as on a new namespace of a real cluster: it
 * registers every search attribute the workflows set and creates the daily report's Schedule at the configured
 * time and zone; run again with another time, it updates the schedule; a wrong zone is refused by name.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { DAILY_REPORT_SCHEDULE_ID } from '../contract/schedule';
import { SA } from '../contract/workflow';
import { ensureTools, REPO_ROOT } from '../scripts/tools';

const { IndexedValueType } = temporal.api.enums.v1;

let env: TestWorkflowEnvironment;
before(async () => {
  // No search attributes: a namespace the pipeline has never run in.
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: ensureTools().temporal },
      ip: '127.0.0.1',
      extraArgs: ['--log-level', 'error'],
    },
  });
});
after(() => env?.teardown());

function setup(extra: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'setup-temporal.ts')], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', ...extra },
  });
}

async function scheduledAt() {
  const { spec } = await env.client.schedule.getHandle(DAILY_REPORT_SCHEDULE_ID).describe();
  const calendar = spec.calendars![0]!;
  return { hour: calendar.hour[0]!.start, minute: calendar.minute[0]!.start, timeZone: spec.timezone };
}

describe('npm run setup:temporal', () => {
  it('registers the search attributes and creates, then updates, the schedule', async () => {
    const first = setup({ REPORT_SCHEDULE_TIME: '06:30', REPORT_TIME_ZONE: 'Europe/Paris' });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /search attributes: registered Bucket, /);
    assert.match(first.stdout, /schedule daily-report created: every day at 06:30 Europe\/Paris/);
    const { customAttributes } = await env.connection.operatorService.listSearchAttributes({
      namespace: 'default',
    });
    const types = { KEYWORD: 'KEYWORD', INT: 'INT', DOUBLE: 'DOUBLE' } as const;
    for (const key of Object.values(SA)) {
      const registered = customAttributes?.[key.name];
      assert.equal(
        registered === undefined
          ? undefined
          : IndexedValueType[registered].replace('INDEXED_VALUE_TYPE_', ''),
        types[key.type],
        key.name,
      );
    }
    assert.deepEqual(await scheduledAt(), { hour: 6, minute: 30, timeZone: 'Europe/Paris' });

    const again = setup({ REPORT_SCHEDULE_TIME: '07:00', REPORT_TIME_ZONE: 'UTC' });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /search attributes: all \d+ registered in default/);
    assert.match(again.stdout, /schedule daily-report updated/);
    assert.deepEqual(await scheduledAt(), { hour: 7, minute: 0, timeZone: 'UTC' });
  });

  it('refuses a time zone it does not know, naming the variable', () => {
    const run = setup({ REPORT_TIME_ZONE: 'Mars/Olympus_Mons' });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /REPORT_TIME_ZONE: expected an IANA time zone, e\.g\. UTC or Europe\/Paris/);
  });
});
