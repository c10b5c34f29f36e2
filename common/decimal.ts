/**
 * Exact decimal arithmetic, the one implementation of it: `csv-validate` parses, sums and compares the numbers
 * of each row with it, and the chunk merge adds and compares the decimal strings (`-12.50`, `7`) the chunks
 * report with it, so that the statistics of many chunks have the same digits as one run over the whole file.
 *
 * A number is ±mantissa / 10^scale. While it has at most 15 digits its mantissa is exact in a double, and so
 * are the scaled sums of such numbers up to 2^53: the per-row work stays in doubles, BigInt only beyond.
 *
 * Grammar: `[+-]?(digits[.digits]|.digits)`, also `5.` (no point when parsing an integer). Stricter than
 * Python's `Decimal()` on purpose: no exponent, NaN, Infinity, spaces, underscores or non-ASCII digits.
 */

const ZERO = 0x30;
const DASH = 0x2d;
const PLUS = 0x2b;
const POINT = 0x2e;
/** Numbers with at most this many digits are exact in a double, and so are their scaled sums. */
const EXACT_DIGITS = 15;
const POW10 = Array.from({ length: EXACT_DIGITS + 1 }, (_, i) => 10 ** i);

/** A parsed decimal: value = ±mantissa / 10^scale. Reused from one value to the next on the hot path. */
export class Decimal {
  negative = false;
  /** The digits without the point; exact only if `exact`. */
  mantissa = 0;
  /** Digits after the point. */
  scale = 0;
  /** At most 15 digits: `mantissa` is exact. */
  exact = true;
  /** The text parsed, kept only when it is not exact (to redo it in BigInt). */
  text = '';

  /**
   * Parses `buf[start, end)` into this decimal, or returns false (this unchanged) if it is not one, or has a
   * point when `allowPoint` is false (an integer).
   */
  parse(buf: Buffer, start: number, end: number, allowPoint: boolean): boolean {
    let i = start;
    let negative = false;
    const first = buf[i];
    if (first === DASH) {
      negative = true;
      i++;
    } else if (first === PLUS) {
      i++;
    }
    let mantissa = 0;
    let digits = 0;
    let scale = 0;
    let point = false;
    for (; i < end; i++) {
      const d = buf[i]! - ZERO;
      if (d >= 0 && d <= 9) {
        mantissa = mantissa * 10 + d;
        digits++;
        if (point) scale++;
      } else if (d === POINT - ZERO && allowPoint && !point) {
        point = true;
      } else {
        return false;
      }
    }
    if (digits === 0) return false;
    this.negative = negative;
    this.mantissa = mantissa;
    this.scale = scale;
    this.exact = digits <= EXACT_DIGITS;
    this.text = this.exact ? '' : buf.toString('latin1', start, end);
    return true;
  }

  /**
   * Its value as a double: the nearest one while it is {@link exact}, so that exact values compare as their
   * doubles do ({@link compareDecimal}); only approximate beyond 15 digits.
   */
  approx(): number {
    return (
      (this.negative ? -this.mantissa : this.mantissa) / (this.exact ? POW10[this.scale]! : 10 ** this.scale)
    );
  }

  /** The value in units of 10^-scale (scale ≥ this.scale), exactly. */
  units(scale: number): bigint {
    const units = this.exact ? BigInt(this.mantissa) : BigInt(this.text.replace(/[+\-.]/g, ''));
    const value = units * 10n ** BigInt(scale - this.scale);
    return this.negative ? -value : value;
  }

  /** A copy that parsing into this one leaves alone. */
  copy(): Decimal {
    const c = new Decimal();
    c.negative = this.negative;
    c.mantissa = this.mantissa;
    c.scale = this.scale;
    c.exact = this.exact;
    c.text = this.text;
    return c;
  }
}

/**
 * Negative, zero or positive as `a` is less than, equal to or greater than `b` (`1.50` equals `1.5`), exactly.
 * `approxA` and `approxB` are their {@link Decimal.approx}: distinct decimals of at most 15 digits have
 * distinct doubles, in the same order, so BigInt is needed only when one has more.
 */
export function compareDecimal(a: Decimal, approxA: number, b: Decimal, approxB: number): number {
  if (a.exact && b.exact) return approxA - approxB;
  const scale = Math.max(a.scale, b.scale);
  const x = a.units(scale);
  const y = b.units(scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** An exact running sum of decimals, at the largest scale added: (big + small) / 10^scale, `small` a double while it is exact. */
export class DecimalSum {
  private scale = 0;
  private big = 0n;
  private small = 0;

  add(n: Decimal): void {
    if (n.scale > this.scale) {
      this.big = (this.big + BigInt(this.small)) * 10n ** BigInt(n.scale - this.scale);
      this.small = 0;
      this.scale = n.scale;
    }
    const shift = this.scale - n.scale;
    if (n.exact && shift <= EXACT_DIGITS) {
      // Exact as long as the results stay safe integers: a product or sum above 2^53 rounds to ≥ 2^53.
      const units = n.mantissa * POW10[shift]!;
      const next = this.small + (n.negative ? -units : units);
      if (units <= Number.MAX_SAFE_INTEGER && Math.abs(next) <= Number.MAX_SAFE_INTEGER) {
        this.small = next;
        return;
      }
    }
    this.big += n.units(this.scale);
  }

  /** The sum as a decimal string with `scale` digits after the point (none for scale 0): `-0.50`, `7`. */
  toString(): string {
    const units = this.big + BigInt(this.small);
    const scale = this.scale;
    const negative = units < 0n;
    const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
    const whole = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
    return negative ? `-${whole}` : whole;
  }
}

/**
 * Parses a decimal string.
 * @throws RangeError if it is not one.
 */
export function parseDecimal(text: string): Decimal {
  // Any non-ASCII character becomes bytes ≥ 0x80, which are no digit, sign or point.
  const bytes = Buffer.from(text, 'utf8');
  const n = new Decimal();
  if (!n.parse(bytes, 0, bytes.length, true)) throw new RangeError(`not a decimal number: "${text}"`);
  return n;
}

/** `a + b`, exact, at the larger scale of the two (`1.5 + 2.25 = 3.75`, `1.50 + 1 = 2.50`). */
export function addDecimals(a: string, b: string): string {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  const sum = new DecimalSum();
  sum.add(x);
  sum.add(y);
  return sum.toString();
}

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b` (`1.50` equals `1.5`). */
export function compareDecimals(a: string, b: string): number {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  const d = compareDecimal(x, x.approx(), y, y.approx());
  return d < 0 ? -1 : d > 0 ? 1 : 0;
}
