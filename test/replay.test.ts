/**
 * Safe deploys of workflow changes: histories recorded from real runs (npm run record:histories) are replayed
 * against today's workflow code. A change that would make running workflows non-deterministic fails here:
 * until the first deployment, re-record the histories; after it, guard such a change with `patched()`
 * (docs/architecture.md, "Replay fixtures: re-recorded until the first deployment").
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import { HISTORY_IDS } from '../scripts/record-histories';
import { workflowBundle } from './support/temporal';

const DIR = join(__dirname, 'fixtures', 'histories');

describe('workflow replay', () => {
  it('replays every recorded history without non-determinism', async () => {
    const ids = JSON.parse(readFileSync(HISTORY_IDS, 'utf8')) as Record<string, string>;
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json') && join(DIR, f) !== HISTORY_IDS);
    assert.ok(files.length >= 6, 'recorded histories: success on both routes, dead-letter paths, chunks');
    const histories = files.map((file) => ({
      // A parent names its child workflows after its own ID: replay it under the recorded one.
      workflowId: ids[file] ?? file,
      history: JSON.parse(readFileSync(join(DIR, file), 'utf8')) as unknown,
    }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle() },
      histories,
    )) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
  });
});
