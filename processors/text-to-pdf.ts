/**
 * The `text-to-pdf` job: renders a UTF-8 text file as an A4 PDF, one paragraph per input line, with the
 * object key as the title, whatever the input: its memory is bounded (one output line of text, one page of
 * PDF, the fonts and fixed-size caches), binary data fails as invalid input, and characters no font has are
 * reported, not silently boxed.
 *
 * The pipeline: {@link Utf8Decoder} (bytes to text, refusing binary data), {@link Typesetter} (text to
 * output lines, each character in the first font of a fallback chain that has it), {@link visualRuns} (a
 * line to runs of one font and direction in visual order), then pdfkit draws each run at a computed
 * position, never wrapping text itself. processors/README.md describes the rules and the measured memory.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate } from 'node:timers/promises';
import PDFDocument from 'pdfkit';
import { createLogger, type Logger } from '../common/log';
import { InvalidInputError } from '../contract/failures';
import { visualRuns } from './text-bidi';
import { Utf8Decoder } from './text-decode';
import { BODY_FACES, FontChain, FontSet, MissingGlyphs, TITLE_FACES, type Face } from './text-fonts';
import { Typesetter, type SetLine } from './text-lines';

const MARGIN = 50;
const BODY_SIZE = 10;
const TITLE_SIZE = 16;
/** Space between the title and the text, in title lines. */
const TITLE_GAP = 0.5;
/**
 * pdfkit keeps about 1 KiB per page until the end (the page tree and cross-reference table the PDF ends
 * with), so the page count is what still grows with the input: it is capped. 100,000 pages hold about 500 MB
 * of prose, and stay well within the memory bound (processors/README.md).
 */
export const MAX_PAGES = 100_000;
/** pdfkit's output buffer is let to hold this much before reading the next piece of input. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/** Options of {@link textToPdf}. */
export interface TextToPdfOptions {
  /** Shown in bold at the top of the first page and stored as the document title (the object key). */
  title: string;
  /** The input's path or URI, for messages. */
  source: string;
  /** Where the warnings go (characters without a glyph); by default stderr. */
  log?: Logger;
}

/** What one {@link textToPdf} run produced. */
export interface TextToPdfResult {
  /** Lines read, blank ones included. */
  linesIn: number;
  /** Pages written. */
  pages: number;
  /** Input bytes that were not valid UTF-8, printed as U+FFFD: the number of replaced sequences. */
  invalidSequences?: number;
  /** Characters that no font has a glyph for, printed as U+FFFD: how many, and of which scripts. */
  missingGlyphs?: { count: number; scripts: Record<string, number> };
}

/** How the lines of one kind of text are drawn. */
interface LineStyle {
  size: number;
  /** From the top of one line to the top of the next. */
  height: number;
  /** From the top of a line to its baseline. */
  ascent: number;
}

function lineStyle(face: Face, size: number): LineStyle {
  const { ascent, descent, lineGap, unitsPerEm } = face.font;
  return {
    size,
    height: ((ascent - descent + lineGap) / unitsPerEm) * size,
    ascent: (ascent / unitsPerEm) * size,
  };
}

/** pdfkit text options: a run is drawn at a given point, on the baseline, never wrapped by pdfkit. */
const IN_WORDS = { lineBreak: false, baseline: 'alphabetic' } as const;
/** For a run fontkit reverses: no features means the same layout, but of the whole run rather than word by word. */
const WHOLE = { ...IN_WORDS, features: [] };

/** Draws set lines down the pages, adding a page when the next line does not fit. */
class Pages {
  /** Pages added so far. */
  pages = 0;
  private y = MARGIN;

  constructor(
    private readonly doc: PDFKit.PDFDocument,
    private readonly fonts: FontSet,
    /** The input's path or URI, for messages. */
    private readonly source: string,
  ) {}

  start(): void {
    this.doc.addPage();
    this.pages++;
  }

  /** Moves down by `height` points (the next line goes to a new page if that leaves no room for it). */
  skip(height: number): void {
    this.y += height;
  }

  line(line: SetLine, style: LineStyle): void {
    const { doc } = this;
    if (this.y + style.height > doc.page.maxY()) {
      if (this.pages === MAX_PAGES) {
        throw new InvalidInputError(
          `${this.source} needs more than ${MAX_PAGES} pages: text-to-pdf makes PDFs of up to ${MAX_PAGES} pages; split the file`,
        );
      }
      doc.addPage();
      this.pages++;
      this.y = doc.page.margins.top;
    }
    if (line.length > 0) this.draw(line, style, this.y + style.ascent);
    this.y += style.height;
  }

  private draw(line: SetLine, style: LineStyle, baseline: number): void {
    const { doc } = this;
    const runs = visualRuns(line).map((run) => ({
      ...run,
      font: this.fonts.face(run.face).name,
      options: run.whole ? WHOLE : IN_WORDS,
    }));
    let x = doc.page.margins.left;
    if (line.direction === 'rtl') {
      // Right-aligned: the width is measured as pdfkit will lay the runs out (shaped Arabic is narrower).
      let width = 0;
      for (const run of runs) width += doc.font(run.font, style.size).widthOfString(run.text, run.options);
      x = doc.page.width - doc.page.margins.right - width;
    }
    for (const run of runs) {
      doc.font(run.font, style.size).text(run.text, x, baseline, run.options);
      // pdfkit moves doc.x past the run by its laid-out width, kerning and shaping included.
      x = doc.x;
    }
  }
}

/**
 * Streams `input` (UTF-8 text, LF, CRLF or CR line ends, a BOM dropped) into a PDF written to `output`,
 * resolving once `output` has finished. Throws InvalidInputError for binary input. Reading pauses while
 * `output` is over its high-water mark, or pdfkit holds more than a MiB that it has not taken yet.
 */
export async function textToPdf(
  input: AsyncIterable<Buffer>,
  output: Writable,
  opts: TextToPdfOptions,
): Promise<TextToPdfResult> {
  const doc = new PDFDocument({
    size: 'A4',
    margin: MARGIN,
    autoFirstPage: false,
    // Unbounded (one entry per distinct word): the fonts memoize layouts in bounded maps instead.
    fontLayoutCache: false,
    info: { Title: opts.title, Creator: 'temporal-file-pipeline text-to-pdf' },
  });
  const piped = pipeline(doc, output);
  // Recorded rather than left unhandled: the loop below notices it at the next piece of input.
  let outputFailure: Error | undefined;
  piped.catch((err: unknown) => {
    outputFailure = err instanceof Error ? err : new Error(`writing the PDF failed: ${String(err)}`);
  });

  // pdfkit 0.20 takes fontkit fonts as they are (its changelog: "Accept already-parsed fontkit Font
  // instances"), which its type definitions do not say yet.
  const fonts = new FontSet((name, font) =>
    doc.registerFont(name, font as unknown as PDFKit.Mixins.PDFFontSource),
  );
  const missing = new MissingGlyphs();
  const decoder = new Utf8Decoder(opts.source);
  const page = new Pages(doc, fonts, opts.source);
  try {
    page.start();
    const width = doc.page.width - doc.page.margins.left - doc.page.margins.right;
    /** A typesetter of one kind of text, its lines going to the pages in its style. */
    const typesetter = (faces: readonly number[], size: number) => {
      const style = lineStyle(fonts.face(faces[0]!), size);
      const chain = new FontChain(fonts, faces);
      return {
        style,
        setter: new Typesetter({
          fonts,
          chain,
          size,
          width,
          missing,
          sink: (line) => page.line(line, style),
        }),
      };
    };
    const title = typesetter(TITLE_FACES, TITLE_SIZE);
    title.setter.write(opts.title);
    title.setter.end();
    page.skip(TITLE_GAP * title.style.height);

    const body = typesetter(BODY_FACES, BODY_SIZE).setter;
    for await (const text of decoder.decode(input)) {
      if (outputFailure !== undefined) throw outputFailure;
      body.write(text);
      await drained(doc, output, piped);
    }
    body.end();
    doc.end();
    await piped;
    const missingGlyphs = missing.report();
    if (missingGlyphs) {
      (opts.log ?? createLogger('text-to-pdf')).warn(
        `no glyph in any font for ${missingGlyphs.count} characters, printed as U+FFFD`,
        { scripts: missingGlyphs.scripts },
      );
    }
    return {
      linesIn: body.linesIn,
      pages: page.pages,
      ...(decoder.invalidSequences > 0 ? { invalidSequences: decoder.invalidSequences } : {}),
      ...(missingGlyphs ? { missingGlyphs } : {}),
    };
  } catch (err) {
    doc.destroy(err instanceof Error ? err : new Error(String(err)));
    await piped.catch(() => undefined);
    throw err;
  }
}

/**
 * Waits until the PDF made but not yet taken by `output` is small again: `output` has drained and pdfkit's
 * own buffer holds at most {@link MAX_BUFFERED_BYTES}. pdfkit does not stop when the stream it pipes into
 * is full, it buffers: one piece of input can make a thousand (blank) pages, so waiting for one 'drain'
 * event per piece would let that buffer grow with the input. Fails as soon as the pipeline into `output` fails.
 */
async function drained(doc: PDFKit.PDFDocument, output: Writable, piped: Promise<void>): Promise<void> {
  while (output.writableNeedDrain || doc.readableLength > MAX_BUFFERED_BYTES) {
    const stop = new AbortController();
    try {
      // While `output` takes more, the pipe moves pdfkit's buffer on: another turn of the event loop.
      const moved = output.writableNeedDrain
        ? once(output, 'drain', { signal: stop.signal })
        : setImmediate(undefined, { signal: stop.signal });
      await Promise.race([moved, piped]);
    } finally {
      stop.abort();
    }
  }
}
