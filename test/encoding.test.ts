/**
 * UTF-16 and UTF-32 inputs are refused the same way by every job and by the chunk planner: exit code 65, a
 * message naming the encoding and the conversion, no output. UTF-8, with or without a BOM, passes untouched.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JOB_NAMES } from '../contract/jobs';
import { planChunks } from '../csv/chunk-plan';
import { detectWideEncoding, refuseWideEncodings } from '../csv/encoding';
import { FAILURES, InvalidInputError } from '../contract/failures';
import { runProcessor } from './support/processor';

const TEXT = 'id,name,amount\r\n1,Zoë,12.50\r\n2,"Smith, J",3\r\n';
const ENCODINGS = {
  'UTF-16LE': (text: string) => Buffer.from(text, 'utf16le'),
  'UTF-16BE': (text: string) => Buffer.from(text, 'utf16le').swap16(),
  'UTF-32LE': (text: string) => utf32(text, 'LE'),
  'UTF-32BE': (text: string) => utf32(text, 'BE'),
} as const;

function utf32(text: string, order: 'LE' | 'BE'): Buffer {
  const points = [...text].map((c) => c.codePointAt(0)!);
  const out = Buffer.alloc(points.length * 4);
  points.forEach((p, i) => (order === 'LE' ? out.writeUInt32LE(p, i * 4) : out.writeUInt32BE(p, i * 4)));
  return out;
}

const withBom = (encoding: keyof typeof ENCODINGS) => ENCODINGS[encoding](`\ufeff${TEXT}`);

async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

describe('detectWideEncoding', () => {
  for (const encoding of Object.keys(ENCODINGS) as (keyof typeof ENCODINGS)[]) {
    it(`finds ${encoding} by its byte order mark and without one`, () => {
      assert.deepEqual(detectWideEncoding(withBom(encoding)), {
        encoding,
        evidence: `a ${encoding} byte order mark at byte 0`,
      });
      assert.equal(detectWideEncoding(ENCODINGS[encoding](TEXT))?.encoding, encoding);
    });
  }

  it('leaves UTF-8 alone: with a BOM, in any script, and too short to tell', () => {
    for (const text of [`\ufeff${TEXT}`, TEXT, 'Ελληνικά,日本語,עברית,😀\n', 'a,b\n', '']) {
      assert.equal(detectWideEncoding(Buffer.from(text, 'utf8')), undefined, JSON.stringify(text));
    }
  });
});

describe('refuseWideEncodings', () => {
  it('passes UTF-8 through byte for byte, whatever the pieces', async () => {
    const data = Buffer.from(TEXT.repeat(100), 'utf8');
    for (const size of [1, 7, 511, 512, 4096]) {
      const out: Buffer[] = [];
      for await (const piece of refuseWideEncodings(pieces(data, size), 'in.csv')) out.push(piece);
      assert.ok(Buffer.concat(out).equals(data), `pieces of ${size}`);
    }
  });

  it('refuses UTF-16 arriving a byte at a time', async () => {
    const read = async () => {
      for await (const piece of refuseWideEncodings(pieces(withBom('UTF-16LE'), 1), 'in.csv')) void piece;
    };
    await assert.rejects(
      read,
      (err: Error) => err instanceof InvalidInputError && /UTF-16LE/.test(err.message),
    );
  });

  it('stops the chunk planner of a large UTF-16 file before it plans anything', async () => {
    const big = ENCODINGS['UTF-16LE'](TEXT.repeat(2000));
    await assert.rejects(
      planChunks(refuseWideEncodings(pieces(big, 65536), 's3://in/big.csv'), 4096, 's3://in/big.csv'),
      /s3:\/\/in\/big\.csv is UTF-16LE text \(NUL bytes at odd offsets from byte 1\)/,
    );
  });
});

describe('every job refuses UTF-16 and UTF-32', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'encoding-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const job of JOB_NAMES) {
    it(`${job}: exit code 65 naming the encoding and iconv, no output`, async () => {
      const cases = [
        ['UTF-16LE', withBom('UTF-16LE')],
        ['UTF-32BE', ENCODINGS['UTF-32BE'](TEXT)],
      ] as const;
      for (const [encoding, bytes] of cases) {
        const input = path.join(dir, `${job}-${encoding}.csv`);
        const output = path.join(dir, `${job}-${encoding}.out`);
        fs.writeFileSync(input, bytes);
        // csv-to-dynamodb needs a table named; the encoding stops it before it writes any.
        const res = await runProcessor(
          ['--job', job, input, output],
          job === 'csv-to-dynamodb' ? { DYNAMODB_TABLE: 'rows' } : {},
        );
        assert.equal(res.code, FAILURES.invalidInput.exitCodes.EX_DATAERR, res.stderr);
        assert.match(res.stderr, new RegExp(`is ${encoding} text .*iconv -f ${encoding} -t UTF-8`));
        assert.equal(fs.existsSync(output), false, 'no output is left');
      }
    });
  }
});
