/**
 * The fonts of the text-to-pdf job, loaded only when a character needs them, and the choice of a font per
 * character: the first font of a fallback chain that has a glyph for it.
 *
 * DejaVu Sans (Latin, Greek, Cyrillic, Hebrew, much of Arabic, symbols) comes first; then Noto Sans Hebrew,
 * Noto Sans Arabic, Noto Emoji (monochrome), Noto Sans SC (Chinese, kana) and Noto Sans KR (Hangul). They
 * are the Google Fonts builds as packaged by @expo-google-fonts, under the SIL Open Font License 1.1; only
 * the regular weight is used. pdfkit embeds a subset of each font a document uses, so a PDF carries only the
 * glyphs it shows.
 */
import fs from 'node:fs';
import { create, type Font, type GlyphPosition, type GlyphRun } from 'fontkit';
import { scriptName } from './text-unicode';

/** A font file, and the name the PDF document knows it by. */
interface FontFile {
  readonly name: string;
  readonly path: string;
}

function expoFont(family: string): FontFile {
  const file = family.replaceAll('-', '');
  return {
    name: file,
    path: require.resolve(`@expo-google-fonts/${family.toLowerCase()}/400Regular/${file}_400Regular.ttf`),
  };
}

/** Every font the job may use; a face id is an index into this list. */
const FONT_FILES: readonly FontFile[] = [
  { name: 'DejaVuSans', path: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf') },
  { name: 'DejaVuSans-Bold', path: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf') },
  expoFont('Noto-Sans-Hebrew'),
  expoFont('Noto-Sans-Arabic'),
  expoFont('Noto-Emoji'),
  expoFont('Noto-Sans-SC'),
  expoFont('Noto-Sans-KR'),
];
/** The face ids of {@link FONT_FILES}, by name. */
const FACE = { sans: 0, sansBold: 1, hebrew: 2, arabic: 3, emoji: 4, chinese: 5, korean: 6 } as const;

/**
 * The fallbacks after the first font, in the order they are tried. The small fonts come first, so that an
 * emoji does not load the large CJK fonts (10.6 and 6.2 MB) to learn that they lack it.
 */
const FALLBACKS = [FACE.hebrew, FACE.arabic, FACE.emoji, FACE.chinese, FACE.korean];
/** The body text: DejaVu Sans, then the fallbacks. */
export const BODY_FACES = [FACE.sans, ...FALLBACKS];
/** The title: DejaVu Sans Bold, then DejaVu Sans for what the bold face lacks, then the fallbacks. */
export const TITLE_FACES = [FACE.sansBold, FACE.sans, ...FALLBACKS];

/**
 * Layouts memoized per font and generation, counted in UTF-16 units of their texts plus
 * {@link LAYOUT_ENTRY_UNITS} per entry: a few MB per font. pdfkit lays out each word twice (to encode it and
 * to advance past it), three times for right-to-left text, and its own per-word cache (`fontLayoutCache`,
 * turned off) keeps every distinct word of the document, so that its memory grows with the input.
 */
const LAYOUT_MEMO_UNITS = 16 * 1024;
/** What an entry costs besides its text (the run object, its features), in the same units. */
const LAYOUT_ENTRY_UNITS = 16;

/** A loaded font, with its glyph and advance look-ups cached per code point. */
export class Face {
  /** For BMP code points: 0 not looked up, 1 has a glyph, 2 has none. */
  private readonly bmpGlyphs = new Uint8Array(0x10000);
  /** For BMP code points: the advance in em, or -1 when not looked up. */
  private readonly bmpAdvances = new Float32Array(0x10000).fill(-1);

  constructor(
    /** The name the PDF document knows the font by. */
    readonly name: string,
    /** The fontkit font, with its layouts memoized: give pdfkit this object. */
    readonly font: Font,
  ) {}

  has(cp: number): boolean {
    if (cp >= 0x10000) return this.font.hasGlyphForCodePoint(cp);
    let known = this.bmpGlyphs[cp] ?? 0;
    if (known === 0) {
      known = this.font.hasGlyphForCodePoint(cp) ? 1 : 2;
      this.bmpGlyphs[cp] = known;
    }
    return known === 1;
  }

  /** The advance width of the glyph of `cp`, in em (without kerning or shaping). */
  advance(cp: number): number {
    if (cp >= 0x10000) return this.font.glyphForCodePoint(cp).advanceWidth / this.font.unitsPerEm;
    let advance = this.bmpAdvances[cp] ?? -1;
    if (advance < 0) {
      advance = this.font.glyphForCodePoint(cp).advanceWidth / this.font.unitsPerEm;
      this.bmpAdvances[cp] = advance;
    }
    return advance;
  }
}

/** The fonts of one document, each loaded the first time it is asked for. */
export class FontSet {
  private readonly faces: (Face | undefined)[] = [];

  /** @param register makes a loaded font known to the PDF document under its name. */
  constructor(private readonly register: (name: string, font: Font) => void) {}

  face(id: number): Face {
    let face = this.faces[id];
    if (face === undefined) {
      const file = FONT_FILES[id];
      if (file === undefined) throw new Error(`text-to-pdf: no font ${id}`);
      const font = create(fs.readFileSync(file.path));
      if ('fonts' in font) throw new Error(`text-to-pdf: ${file.path} is a font collection, not a font`);
      face = new Face(file.name, memoizeLayouts(font));
      this.register(face.name, face.font);
      this.faces[id] = face;
    }
    return face;
  }
}

/** {@link FontChain.faceFor}'s cache value for "no font has it". */
const NO_FACE = 0xff;

/** An ordered choice of fonts: a character is set in the first that has a glyph for it. */
export class FontChain {
  /** Per code point: face id + 1 of its font, 0 when not looked up, {@link NO_FACE} for none. */
  private readonly chosen = new Uint8Array(0x110000);

  constructor(
    private readonly fonts: FontSet,
    /** Face ids in the order they are tried. */
    readonly order: readonly number[],
  ) {}

  /** The id of the face of the first font with a glyph for `cp`, or undefined when none has one. */
  faceFor(cp: number): number | undefined {
    let chosen = this.chosen[cp] ?? 0;
    if (chosen === 0) {
      const id = this.order.find((candidate) => this.fonts.face(candidate).has(cp));
      chosen = id === undefined ? NO_FACE : id + 1;
      this.chosen[cp] = chosen;
    }
    return chosen === NO_FACE ? undefined : chosen - 1;
  }
}

/** The characters no font had a glyph for, by script. */
export class MissingGlyphs {
  count = 0;
  private readonly scripts = new Map<string, number>();

  add(cp: number): void {
    this.count++;
    const script = scriptName(cp);
    this.scripts.set(script, (this.scripts.get(script) ?? 0) + 1);
  }

  /** For the job's result: undefined when every character had a glyph. */
  report(): { count: number; scripts: Record<string, number> } | undefined {
    if (this.count === 0) return undefined;
    const scripts = [...this.scripts].sort(([, a], [, b]) => b - a);
    return { count: this.count, scripts: Object.fromEntries(scripts) };
  }
}

/**
 * `font` with `layout` memoized in two generations of maps: a layout is looked up in the current one, then
 * in the previous one (and moved to the current one); when the current one holds {@link LAYOUT_MEMO_UNITS},
 * it becomes the previous one. That bounds the memory like a least-recently-used map, at the cost of a
 * lookup. The wrapper inherits everything else from the font (`Object.create`), so fontkit's lazily built
 * state (cmap, layout engine) lives on the wrapper: use it in place of the font everywhere. pdfkit scales
 * the positions of the runs it gets in place, so each call returns a copy.
 */
/** The GPOS features that position one glyph against another, which a fallback layout leaves out. */
const WITHOUT_ATTACHMENTS = { mark: false, mkmk: false, curs: false, kern: false };

function memoizeLayouts(font: Font): Font {
  let current = new Map<string, GlyphRun>();
  let previous = new Map<string, GlyphRun>();
  let units = 0;
  const wrapper = Object.create(font) as Font;
  const layout = (...args: Parameters<Font['layout']>): GlyphRun => {
    try {
      return font.layout.apply(wrapper, args);
    } catch (err) {
      // fontkit fails on some mark and cursive attachments (a lone U+08A4 in Noto Sans Arabic): the text is
      // then laid out without them, its glyphs unattached rather than the file failing.
      if (!(err instanceof TypeError)) throw err;
      return font.layout.call(wrapper, args[0], WITHOUT_ATTACHMENTS);
    }
  };
  wrapper.layout = (text, features, ...rest) => {
    // pdfkit passes no features, or none to have a run laid out whole: the same layout to fontkit.
    const plain =
      rest.length === 0 && (features === undefined || (Array.isArray(features) && features.length === 0));
    if (!plain) return layout(text, features, ...rest);
    let run = current.get(text);
    if (run === undefined) {
      run = previous.get(text) ?? layout(text);
      if (units >= LAYOUT_MEMO_UNITS) {
        previous = current;
        current = new Map();
        units = 0;
      }
      current.set(text, run);
      units += text.length + LAYOUT_ENTRY_UNITS;
    }
    return copyRun(run);
  };
  return wrapper;
}

/** A copy of `run` that pdfkit may change: new positions; the glyph array, which pdfkit only reads, shared. */
function copyRun(run: GlyphRun): GlyphRun {
  const copy = Object.create(Object.getPrototypeOf(run) as object) as GlyphRun;
  return Object.assign(copy, run, {
    positions: run.positions.map(({ xAdvance, yAdvance, xOffset, yOffset }): GlyphPosition => ({
      xAdvance,
      yAdvance,
      xOffset,
      yOffset,
    })),
  });
}
