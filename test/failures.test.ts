/**
 * The failure table of contract/failures.ts: every failure type has a fix and a retryable flag, the
 * permanent exit codes are those of its non-retryable failures, and the processor exits with the table's
 * code for each of its error classes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAILURES, FailureType, PERMANENT_EXIT_CODES, type FailureEntry } from '../contract/failures';
import { runScript } from './support/processor';

const entries = Object.entries(FAILURES as Record<string, FailureEntry>);

describe('failure table', () => {
  it('gives every failure type its name, a fix and a retryable flag', () => {
    assert.deepEqual(Object.keys(FailureType), Object.keys(FAILURES));
    for (const [key, failure] of entries) {
      assert.equal(FailureType[key as keyof typeof FailureType], failure.name, key);
      assert.equal(typeof failure.retryable, 'boolean', key);
      assert.match(failure.fix, /^\S.*\.$/, `${key}: one sentence`);
    }
    const names = entries.map(([, failure]) => failure.name);
    assert.equal(new Set(names).size, names.length, 'each name once');
  });

  it('keeps the recorded names: search attributes, failure reports and dead letters carry them', () => {
    assert.deepEqual(
      { ...FailureType },
      {
        objectMissing: 'ObjectMissing',
        objectSuperseded: 'ObjectSuperseded',
        unknownJob: 'UnknownJob',
        invalidInput: 'InvalidInput',
        processorFailed: 'ProcessorFailed',
        outputInvalid: 'OutputInvalid',
        capacityUnavailable: 'CapacityUnavailable',
        chunksFailed: 'ChunksFailed',
        bucketMissing: 'BucketMissing',
        foreignBucket: 'ForeignBucket',
        unusableMessage: 'UnusableMessage',
        cancelled: 'Cancelled',
        transient: 'Transient',
        untyped: 'Error',
        configuration: 'Configuration',
        usage: 'Usage',
      },
    );
  });

  it('makes permanent exactly the exit codes of the non-retryable failures', () => {
    const codes = (retryable: boolean) =>
      entries
        .filter(([, failure]) => failure.retryable === retryable)
        .flatMap(([, failure]) => Object.values(failure.exitCodes ?? {}));
    assert.deepEqual([...PERMANENT_EXIT_CODES].sort(), codes(false).sort());
    assert.deepEqual(PERMANENT_EXIT_CODES, [65, 66]);
    for (const code of codes(true)) assert.ok(!PERMANENT_EXIT_CODES.includes(code), `${code} is retried`);
    const all = entries.flatMap(([, failure]) => Object.values(failure.exitCodes ?? {}));
    assert.equal(new Set(all).size, all.length, 'each exit code names one failure');
  });

  it("exits the processor with the table's code for each error class, printing its message alone", () => {
    const { EX_DATAERR } = FAILURES.invalidInput.exitCodes;
    const { EX_CONFIG } = FAILURES.configuration.exitCodes;
    /** Each error: its module, how it is made, and the table's code for it. */
    const cases: [module: string, error: string, code: number][] = [
      ['./contract/failures.ts', `new m.InvalidInputError('the fix')`, EX_DATAERR],
      [
        './contract/failures.ts',
        `new m.InputMissingError('the fix')`,
        FAILURES.objectMissing.exitCodes.EX_NOINPUT,
      ],
      ['./common/config.ts', `new m.ConfigError('the fix')`, EX_CONFIG],
      ['./processors/run.ts', `new m.ChunkRangeError('the fix')`, EX_CONFIG],
      ['./processors/cli.ts', `new m.UsageError('the fix')`, FAILURES.usage.exitCodes.USAGE],
      ['./csv/scanner.ts', `new m.CsvSyntaxError('in.csv', 2, 'the fix')`, EX_DATAERR],
      ['./processors/csv-validate.ts', `new m.RejectThresholdError('the fix')`, EX_DATAERR],
      // Explained, with no code of its own: 1, a failed run the workflow retries.
      ['./contract/failures.ts', `new m.ExplainedError('the fix')`, 1],
    ];
    for (const [module, error, code] of cases) {
      // As processors/main.ts ends a run, in a process of its own.
      const res = runScript(`
        const { runMain } = require('./common/run-main.ts');
        const { exitCodeOf } = require('./processors/main.ts');
        const m = require('${module}');
        runMain('processor', () => { throw ${error}; }, { exitCodeOf, prefix: false });
      `);
      assert.equal(res.status, code, `${error}: ${res.stderr}`);
      assert.match(res.stderr, /^(.*: )?the fix\.?\n$/, error);
    }
  });
});
