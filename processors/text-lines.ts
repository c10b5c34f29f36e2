/**
 * Line breaking for text-to-pdf: text in, in pieces of any size, finished output lines out, each character
 * set in a font that has it. It holds one output line at most (a fixed buffer of code points), so a line of
 * the input may be of any length: a word wider than the line is broken across lines.
 *
 * An input line ends at LF, CRLF or CR; each is one paragraph, broken after spaces (and before Han and kana,
 * written without them) by the greedy rule: as many words as fit. Widths are the fonts' advances, without
 * kerning or shaping. Tabs advance to the next multiple of 8 columns, counted in code points from the start
 * of the input line; C0 and C1 controls and DEL are dropped; U+2028 and U+2029 end the output line.
 */
import type { FontChain, FontSet, MissingGlyphs } from './text-fonts';
import {
  ARABIC,
  BREAK_BEFORE,
  EXTENDS,
  IGNORABLE,
  NEUTRAL,
  SPACE,
  STRONG_LTR,
  STRONG_RTL,
  ZERO_WIDTH,
  charFlags,
} from './text-unicode';

/** Code points of one output line at most: zero-width ones (marks, joiners) would otherwise never fill one. */
const MAX_LINE_CODE_POINTS = 1024;
const TAB_WIDTH = 8;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE_CHAR = 0x20;
const LINE_SEPARATOR = 0x2028;
const PARAGRAPH_SEPARATOR = 0x2029;
/** What a character without a glyph in any font is printed as. */
const REPLACEMENT = 0xfffd;

export type Direction = 'ltr' | 'rtl';

/** A finished output line, valid only during the {@link LineSink} call that receives it. */
export interface SetLine {
  /** Code points in the line, its trailing spaces dropped. */
  readonly length: number;
  /** The line's code points in logical order, at [0, length). */
  readonly codePoints: Uint32Array;
  /** The face id of each code point's font. */
  readonly faces: Uint8Array;
  /** The paragraph direction: that of the input line's first strong character, left to right without one. */
  readonly direction: Direction;
}

export type LineSink = (line: SetLine) => void;

export interface TypesetterOptions {
  fonts: FontSet;
  chain: FontChain;
  /** Font size in points. */
  size: number;
  /** Line width in points. */
  width: number;
  /** Counts the characters that no font has. */
  missing: MissingGlyphs;
  sink: LineSink;
}

/** Breaks text into output lines; call {@link write} with each piece, then {@link end}. */
export class Typesetter {
  /** Input lines read, blank ones included. */
  linesIn = 0;
  private readonly codePoints = new Uint32Array(MAX_LINE_CODE_POINTS);
  private readonly faces = new Uint8Array(MAX_LINE_CODE_POINTS);
  private readonly advances = new Float32Array(MAX_LINE_CODE_POINTS);
  /** Code points in the buffer, and their width in points. */
  private length = 0;
  private width = 0;
  /**
   * The last break opportunity: the line may end at `contentEnd` (before the spaces there) and the next one
   * start at `breakAt`. Both 0 when there is none, or no content before it.
   */
  private contentEnd = 0;
  private breakAt = 0;
  /** Where the grapheme cluster being added starts: a long word is broken before it, not inside it. */
  private clusterStart = 0;
  /** Where the Arabic word being added starts (-1 outside one): its letters must share a font to join. */
  private joinStart = -1;
  private afterSpace = false;
  /** The face of the last visible character of the input line: neutral characters follow it. */
  private lastFace: number | undefined;
  /** The input line's column (for tabs), its direction once a strong character is seen, whether it has begun. */
  private column = 0;
  private direction: Direction | undefined;
  private lineOpen = false;
  /** A CR ended the last line: an LF right after it belongs to that line end. */
  private afterCr = false;

  constructor(private readonly options: TypesetterOptions) {}

  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const cp = text.codePointAt(i)!;
      if (cp > 0xffff) i++;
      this.put(cp);
    }
  }

  /** Sets the last line, if the text does not end with a line end. */
  end(): void {
    if (this.lineOpen) this.endInputLine();
  }

  private put(cp: number): void {
    if (cp === LF && this.afterCr) {
      this.afterCr = false;
      return;
    }
    this.afterCr = cp === CR;
    if (cp === LF || cp === CR) {
      this.endInputLine();
      return;
    }
    this.lineOpen = true;
    if (cp === TAB) {
      const pad = TAB_WIDTH - (this.column % TAB_WIDTH);
      for (let i = 0; i < pad; i++) this.space(SPACE_CHAR);
      this.column += pad;
      return;
    }
    // C0 and C1 controls and DEL have no glyph and mean nothing on paper.
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return;
    if (cp === LINE_SEPARATOR || cp === PARAGRAPH_SEPARATOR) {
      this.emit(this.length);
      this.clear();
      this.column = 0;
      return;
    }
    this.column++;
    const flags = charFlags(cp);
    if (flags & SPACE) this.space(cp);
    else this.visible(cp, flags);
  }

  private space(cp: number): void {
    const { fonts, chain, size, width } = this.options;
    if (!this.afterSpace) this.contentEnd = this.length;
    this.afterSpace = true;
    this.joinStart = -1;
    let face = this.followingFace(cp) ?? chain.faceFor(cp);
    if (face === undefined) {
      // A space is a space, even where no font has this one.
      cp = SPACE_CHAR;
      face = this.lastFace ?? chain.faceFor(cp)!;
    }
    const advance = fonts.face(face).advance(cp) * size;
    // Spaces past the end of the line are invisible: dropped rather than kept until the next word.
    if (this.length < MAX_LINE_CODE_POINTS && this.width + advance <= width) this.append(cp, face, advance);
    this.breakAt = this.length;
    this.clusterStart = this.length;
  }

  private visible(cp: number, flags: number): void {
    const { fonts, chain, size, width, missing } = this.options;
    const strong = flags & (STRONG_LTR | STRONG_RTL);
    const extending = (flags & EXTENDS) !== 0 && this.length > this.clusterStart;
    let face: number | undefined;
    if (flags & IGNORABLE) {
      // fontkit hides these (ZWJ, variation selectors, bidi controls): any font will do.
      face = this.lastFace ?? chain.order[0]!;
    } else if (extending) {
      face = this.groupFace(cp, this.clusterStart);
    } else if (flags & ARABIC && this.joinStart >= 0) {
      face = this.groupFace(cp, this.joinStart);
    } else {
      face = flags & NEUTRAL ? this.followingFace(cp) : undefined;
      face ??= chain.faceFor(cp);
    }
    if (!extending) {
      if (flags & BREAK_BEFORE && this.length > 0 && !this.afterSpace) {
        this.contentEnd = this.length;
        this.breakAt = this.length;
      }
      this.clusterStart = this.length;
    }
    if (face === undefined) {
      missing.add(cp);
      cp = REPLACEMENT;
      flags = charFlags(cp);
      face = chain.faceFor(cp)!;
    }
    const advance = flags & ZERO_WIDTH ? 0 : fonts.face(face).advance(cp) * size;
    if (this.length === MAX_LINE_CODE_POINTS || this.width + advance > width) this.overflow(advance);
    if (!(flags & ARABIC)) this.joinStart = extending ? this.joinStart : -1;
    else if (this.joinStart < 0) this.joinStart = this.length;
    this.append(cp, face, advance);
    this.afterSpace = false;
    this.lastFace = face;
    if (this.direction === undefined && strong !== 0) this.direction = strong & STRONG_LTR ? 'ltr' : 'rtl';
  }

  /** The face of the last visible character, if it has a glyph for `cp`: neutral characters stay in the text's font. */
  private followingFace(cp: number): number | undefined {
    const last = this.lastFace;
    return last !== undefined && this.options.fonts.face(last).has(cp) ? last : undefined;
  }

  /**
   * The face for `cp`, which must share a font with the characters at [start, length): the marks of a
   * cluster (positioned by another font than their base's, they would land anywhere), the letters of an
   * Arabic word (they join only within one font). That is the group's face if it has a glyph for `cp`;
   * otherwise the first face of the chain that has the whole group, which is moved there; otherwise `cp`'s own.
   */
  private groupFace(cp: number, start: number): number | undefined {
    const { fonts, chain, size } = this.options;
    const current = this.faces[this.length - 1]!;
    if (fonts.face(current).has(cp)) return current;
    for (const id of chain.order) {
      const face = fonts.face(id);
      if (!face.has(cp)) continue;
      let all = true;
      for (let i = start; i < this.length && all; i++) {
        const other = this.codePoints[i]!;
        all = (charFlags(other) & IGNORABLE) !== 0 || face.has(other);
      }
      if (!all) continue;
      for (let i = start; i < this.length; i++) {
        const other = this.codePoints[i]!;
        const advance = charFlags(other) & ZERO_WIDTH ? 0 : face.advance(other) * size;
        this.width += advance - this.advances[i]!;
        this.faces[i] = id;
        this.advances[i] = advance;
      }
      return id;
    }
    return chain.faceFor(cp);
  }

  /** Makes room for a character of width `advance` that does not fit on the line. */
  private overflow(advance: number): void {
    if (this.breakAt > 0 && this.contentEnd > 0) {
      const next = this.breakAt;
      this.emit(this.contentEnd);
      this.shift(next);
      if (this.length < MAX_LINE_CODE_POINTS && this.width + advance <= this.options.width) return;
    }
    // A character wider than a whole line gets a line of its own.
    if (this.length === 0) return;
    // A word wider than the line: it is broken before the cluster that does not fit.
    const at = this.clusterStart > 0 ? this.clusterStart : this.length;
    this.emit(at);
    this.shift(at);
  }

  private append(cp: number, face: number, advance: number): void {
    const i = this.length++;
    this.codePoints[i] = cp;
    this.faces[i] = face;
    this.advances[i] = advance;
    this.width += advance;
  }

  /** Hands the first `end` code points of the buffer, less trailing spaces, to the sink as a line. */
  private emit(end: number): void {
    while (end > 0 && charFlags(this.codePoints[end - 1]!) & SPACE) end--;
    this.options.sink({
      length: end,
      codePoints: this.codePoints,
      faces: this.faces,
      direction: this.direction ?? 'ltr',
    });
  }

  /** Drops the first `from` code points of the buffer, which were emitted or are not to be. */
  private shift(from: number): void {
    this.codePoints.copyWithin(0, from, this.length);
    this.faces.copyWithin(0, from, this.length);
    this.advances.copyWithin(0, from, this.length);
    this.length -= from;
    this.clusterStart = Math.max(0, this.clusterStart - from);
    this.joinStart = this.joinStart < 0 ? -1 : Math.max(0, this.joinStart - from);
    this.breakAt = 0;
    this.contentEnd = 0;
    this.width = 0;
    for (let i = 0; i < this.length; i++) this.width += this.advances[i]!;
  }

  private clear(): void {
    this.length = 0;
    this.width = 0;
    this.breakAt = 0;
    this.contentEnd = 0;
    this.clusterStart = 0;
    this.joinStart = -1;
    this.afterSpace = false;
  }

  private endInputLine(): void {
    this.emit(this.length);
    this.clear();
    this.linesIn++;
    this.lineOpen = false;
    this.column = 0;
    this.direction = undefined;
    this.lastFace = undefined;
  }
}
