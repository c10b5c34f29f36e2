/**
 * What the CSV jobs build their output with: byte ranges of the input chunks the scanner (csv/scanner.ts)
 * reports, and bytes they insert.
 */
const EMPTY = Buffer.alloc(0);

/** Ranges at least this long are passed on as views of their chunk instead of being copied. */
const VIEW_MIN = 4096;
/** Size of the blocks that short ranges and inserted bytes are copied into. */
const BLOCK_SIZE = 1024 * 1024;

/**
 * Builds a job's output from byte ranges of the input chunks and inserted bytes with as little work per
 * record as possible: a range that continues the previous one extends it, long ranges are passed on as views
 * of their chunk, short ones and inserts are copied into large blocks. {@link take} hands over what has been
 * built so far.
 */
export class OutputBuilder {
  private parts: Buffer[] = [];
  private block = Buffer.allocUnsafe(BLOCK_SIZE);
  /** Bytes of `block` in use; those before `handed` were already handed over and stay untouched. */
  private used = 0;
  private handed = 0;
  /** The range not yet copied or handed over, extended while the next one continues it. */
  private pending: Buffer = EMPTY;
  private pendingStart = 0;
  private pendingEnd = 0;

  /** Appends `buf[start, end)`. */
  range(buf: Buffer, start: number, end: number): void {
    if (buf === this.pending && start === this.pendingEnd) {
      this.pendingEnd = end;
      return;
    }
    this.flushPending();
    this.pending = buf;
    this.pendingStart = start;
    this.pendingEnd = end;
  }

  /** Appends all of `bytes`. */
  bytes(bytes: Buffer): void {
    this.flushPending();
    this.copy(bytes, 0, bytes.length);
  }

  /** The output appended since the last call, as one buffer: one write is cheaper than many small ones. */
  take(): Buffer {
    this.flushPending();
    this.handOverBlock();
    const parts = this.parts;
    this.parts = [];
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private flushPending(): void {
    const { pending, pendingStart: start, pendingEnd: end } = this;
    if (end === start) return;
    this.pending = EMPTY;
    this.pendingStart = this.pendingEnd = 0;
    if (end - start >= VIEW_MIN) {
      this.handOverBlock();
      this.parts.push(pending.subarray(start, end));
    } else {
      this.copy(pending, start, end);
    }
  }

  private copy(buf: Buffer, start: number, end: number): void {
    if (this.used + (end - start) > this.block.length) {
      this.handOverBlock();
      this.block = Buffer.allocUnsafe(Math.max(BLOCK_SIZE, end - start));
      this.used = this.handed = 0;
    }
    this.used += buf.copy(this.block, this.used, start, end);
  }

  private handOverBlock(): void {
    if (this.used > this.handed) this.parts.push(this.block.subarray(this.handed, this.used));
    this.handed = this.used;
  }
}
