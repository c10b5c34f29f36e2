/**
 * The processor's entry point: importing processors/main.ts runs nothing, and a failure's exit code comes
 * from its type, through the start-up helper every process uses (common/run-main.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../scripts/tools';
import { runScript } from './support/processor';

/**
 * Runs `runMain(component, main, options)` in a process of its own, with a main that throws `error`; both
 * are expressions, over the project's error classes and the processor's `exitCodeOf`.
 */
function throwInMain(component: string, error: string, options = 'undefined'): ReturnType<typeof runScript> {
  return runScript(`
    const { runMain } = require('./common/run-main.ts');
    const { ExplainedError, InputMissingError, InvalidInputError } = require('./contract/failures.ts');
    const { UsageError } = require('./processors/cli.ts');
    const { exitCodeOf } = require('./processors/main.ts');
    runMain('${component}', () => { throw ${error}; }, ${options});
  `);
}

describe('processor entry point', () => {
  it('does nothing when imported: no run, no output, no exit', () => {
    // Run, it would find no SOURCE_BUCKET etc. in this environment and exit 78 at once.
    const res = runScript(`
      require('./processors/main.ts');
      setTimeout(() => process.stdout.write('still running\\n'), 500);
    `);
    assert.deepEqual(res, { status: 0, stdout: 'still running\n', stderr: '' });
  });

  it('runs as the main module', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'processors/main.ts'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
    });
    assert.equal(res.status, 78, res.stderr);
    assert.match(res.stderr, /^processor: invalid configuration:\n {2}SOURCE_BUCKET: required but not set/);
  });

  /** Each case: the error main throws, the exit code, and stderr (exactly, or a pattern for a stack). */
  type Case = [error: string, status: number, stderr: string | RegExp];
  const check = (component: string, options: string | undefined, cases: Case[]) => {
    for (const [error, status, stderr] of cases) {
      const res = throwInMain(component, error, options);
      assert.equal(res.status, status, `${error}: ${res.stderr}`);
      assert.equal(res.stdout, '');
      if (typeof stderr === 'string') assert.equal(res.stderr, stderr);
      else assert.match(res.stderr, stderr);
    }
  };

  it("runMain prints an expected failure's message alone, unprefixed, and exits with its code", () => {
    check('processor', '{ exitCodeOf, prefix: false }', [
      [`new UsageError('bad option')`, 2, 'bad option\n'],
      [`new InputMissingError('in.csv does not exist')`, 66, 'in.csv does not exist\n'],
      [`new Error('boom')`, 1, /^Error: boom\n {4}at /],
    ]);
  });

  it('runMain keeps its default for the other processes: exit 1, prefixed, stack unless explained', () => {
    check('worker', undefined, [
      [`new ExplainedError('cannot reach Temporal')`, 1, 'worker: cannot reach Temporal\n'],
      [`new ExplainedError('worker: already prefixed')`, 1, 'worker: already prefixed\n'],
      // Without exitCodeOf the exit code an error carries changes nothing; it is explained all the same.
      [`new InvalidInputError('bad bytes')`, 1, 'worker: bad bytes\n'],
      [`'a string'`, 1, 'worker: a string\n'],
    ]);
  });
});
