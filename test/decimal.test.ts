/**
 * common/decimal.ts, the one decimal arithmetic of the CSV jobs: its grammar, and its sums and comparisons
 * against a plain BigInt reference, in doubles and past 15 digits alike, from bytes and from strings.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Decimal,
  DecimalSum,
  addDecimals,
  compareDecimal,
  compareDecimals,
  parseDecimal,
} from '../common/decimal';

/** The reference: a decimal string as BigInt units at `scale` (scale ≥ its own). */
function units(text: string, scale: number): bigint {
  const [, sign, whole, fraction = ''] = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text)!;
  const value = BigInt(`${whole || '0'}${fraction.padEnd(scale, '0')}`);
  return sign === '-' ? -value : value;
}
const scaleOf = (text: string) => text.split('.')[1]?.length ?? 0;

/** Decimal strings of the grammar: signs, `.5`, `5.`, leading zeros, up to 40 digits. */
const decimal = fc
  .tuple(
    fc.constantFrom('', '', '-', '+'),
    fc.stringMatching(/^[0-9]{0,20}$/),
    fc.option(fc.stringMatching(/^[0-9]{0,20}$/), { nil: undefined }),
  )
  .filter(([, whole, fraction]) => whole.length + (fraction ?? '').length > 0)
  .map(([sign, whole, fraction]) =>
    fraction === undefined ? `${sign}${whole}` : `${sign}${whole}.${fraction}`,
  );
/** Short ones, which stay in doubles. */
const short = fc
  .tuple(fc.constantFrom('', '-'), fc.stringMatching(/^[0-9]{1,8}$/), fc.stringMatching(/^[0-9]{0,7}$/))
  .map(([sign, whole, fraction]) => `${sign}${whole}${fraction ? `.${fraction}` : ''}`);

function parsed(text: string, allowPoint = true): Decimal | undefined {
  const n = new Decimal();
  const bytes = Buffer.from(`,${text},`);
  return n.parse(bytes, 1, bytes.length - 1, allowPoint) ? n : undefined;
}

describe('Decimal.parse', () => {
  it('takes [+-]?(digits[.digits]|.digits) and 5., integers without a point', () => {
    for (const text of [
      '0',
      '-0',
      '+7',
      '12.50',
      '.5',
      '5.',
      '-.5',
      '007',
      '123456789012345678901234567890.5',
    ])
      assert.ok(parsed(text), text);
    for (const text of [
      '',
      '+',
      '-',
      '.',
      '1.2.3',
      '--1',
      '1e3',
      'NaN',
      'Infinity',
      ' 1',
      '1 ',
      '1_000',
      '٣',
      '0x10',
    ])
      assert.equal(parsed(text), undefined, text);
    assert.ok(parsed('-42', false));
    assert.equal(parsed('4.2', false), undefined);
    assert.equal(parsed('4.', false), undefined);
  });

  it('leaves the decimal unchanged when the text is not one', () => {
    const n = parsed('-1.25')!;
    assert.equal(n.parse(Buffer.from('x'), 0, 1, true), false);
    assert.deepEqual([n.negative, n.mantissa, n.scale, n.exact], [true, 125, 2, true]);
  });

  it('is exact up to 15 digits and keeps the text beyond', () => {
    assert.deepEqual([parsed('999999999999999')!.exact, parsed('999999999999999')!.text], [true, '']);
    assert.deepEqual(
      [parsed('-9999999999999999')!.exact, parsed('-9999999999999999')!.text],
      [false, '-9999999999999999'],
    );
    assert.equal(parsed('1234567890.123456')!.units(6), 1234567890123456n);
  });

  it('parseDecimal throws a RangeError naming the text', () => {
    assert.throws(() => parseDecimal('1e3'), { name: 'RangeError', message: 'not a decimal number: "1e3"' });
    // Non-ASCII text is not read as its low bytes ('ı' is U+0131).
    assert.throws(() => parseDecimal('\u0131'), RangeError);
  });
});

describe('DecimalSum', () => {
  it('sums exactly at the largest scale, past 2^53 and across scales', () => {
    const sum = new DecimalSum();
    for (const text of ['9007199254740993', '0.50', '-1', '99999999999999999.99', '.5', '5.'])
      sum.add(parsed(text)!);
    assert.equal(sum.toString(), '109007199254740997.99');
    const zero = new DecimalSum();
    assert.equal(zero.toString(), '0');
    zero.add(parsed('-0.00')!);
    assert.equal(zero.toString(), '0.00');
  });

  it('agrees with BigInt on any values', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(decimal, short), { maxLength: 40 }), (texts) => {
        const sum = new DecimalSum();
        for (const text of texts) sum.add(parsed(text)!);
        const scale = Math.max(0, ...texts.map(scaleOf));
        const total = texts.reduce((acc, text) => acc + units(text, scale), 0n);
        assert.equal(units(sum.toString(), scale), total);
        assert.equal(scaleOf(sum.toString()), scale);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('comparisons', () => {
  it('compareDecimal agrees with BigInt, in doubles or not', () => {
    fc.assert(
      fc.property(fc.oneof(decimal, short), fc.oneof(decimal, short), (a, b) => {
        const x = parsed(a)!;
        const y = parsed(b)!;
        const scale = Math.max(scaleOf(a), scaleOf(b));
        const expected = Math.sign(Number(units(a, scale) - units(b, scale)));
        // `===`, not Object.is: a difference of -0 (`-0` against `0`) is zero like +0.
        assert.ok(Math.sign(compareDecimal(x, x.approx(), y, y.approx())) === expected, `${a} <=> ${b}`);
        assert.equal(compareDecimals(a, b), expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('1.50 equals 1.5, -0 equals 0', () => {
    assert.equal(compareDecimals('1.50', '1.5'), 0);
    assert.equal(compareDecimals('-0', '0'), 0);
    assert.equal(compareDecimals('0.000000000000001', '0'), 1);
    assert.equal(compareDecimals('-9007199254740993', '-9007199254740992'), -1);
  });

  it('addDecimals adds two strings at the larger scale', () => {
    assert.equal(addDecimals('1.5', '2.25'), '3.75');
    assert.equal(addDecimals('1.50', '1'), '2.50');
    assert.equal(addDecimals('0', '-.5'), '-0.5');
    assert.equal(addDecimals('99999999999999999.99', '0.01'), '100000000000000000.00');
    assert.throws(() => addDecimals('1', 'x'), { message: 'not a decimal number: "x"' });
  });
});
