/**
 * The `text-to-pdf` job: renders a UTF-8 text file as an A4 PDF, one paragraph per input line, with the
 * object key as the title. The DejaVu fonts are embedded (subset) so that any Latin, Greek or Cyrillic text
 * renders, unlike with the standard PDF fonts, which only cover Latin-1.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import PDFDocument from 'pdfkit';

const BODY_FONT = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');
const TITLE_FONT = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf');
const BODY_SIZE = 10;
const TITLE_SIZE = 16;
const TAB_WIDTH = 8;
/** C0 controls other than tab, and DEL: they have no glyph and would print as boxes. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** Options of {@link textToPdf}. */
export interface TextToPdfOptions {
  /** Shown in bold at the top of the first page and stored as the document title (the object key). */
  title: string;
}

/** What one {@link textToPdf} run produced. */
export interface TextToPdfResult {
  /** Lines read, blank ones included. */
  linesIn: number;
  /** Pages written. */
  pages: number;
}

/** Replaces tabs by spaces up to the next tab stop, counting columns in code points. */
function expandTabs(line: string): string {
  if (!line.includes('\t')) return line;
  let out = '';
  let column = 0;
  for (const ch of line) {
    if (ch === '\t') {
      const pad = TAB_WIDTH - (column % TAB_WIDTH);
      out += ' '.repeat(pad);
      column += pad;
    } else {
      out += ch;
      column++;
    }
  }
  return out;
}

/**
 * Streams `input` (UTF-8 text, LF or CRLF line ends) into a PDF written to `output`, resolving once `output`
 * has finished. Memory stays bounded: lines are read one at a time, finished pages are flushed by pdfkit and
 * reading pauses while `output` is over its high-water mark.
 */
export async function textToPdf(
  input: AsyncIterable<Buffer> | NodeJS.ReadableStream,
  output: Writable,
  opts: TextToPdfOptions,
): Promise<TextToPdfResult> {
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    autoFirstPage: false,
    info: { Title: opts.title, Creator: 'temporal-file-pipeline text-to-pdf' },
  });
  let pages = 0;
  doc.on('pageAdded', () => pages++);
  doc.registerFont('body', BODY_FONT);
  doc.registerFont('title', TITLE_FONT);
  const piped = pipeline(doc, output);
  // Recorded rather than left unhandled: the loop below notices it at the next line.
  let outputFailure: Error | undefined;
  piped.catch((err: unknown) => {
    outputFailure = err instanceof Error ? err : new Error(`writing the PDF failed: ${String(err)}`);
  });

  const source = input instanceof Readable ? input : Readable.from(input);
  const lines = createInterface({ input: source, crlfDelay: Infinity });
  let linesIn = 0;
  try {
    doc.addPage();
    doc.font('title').fontSize(TITLE_SIZE).text(opts.title.replace(CONTROL_CHARS, ''));
    doc.moveDown(0.5);
    doc.font('body').fontSize(BODY_SIZE);
    for await (const raw of lines) {
      if (outputFailure !== undefined) throw outputFailure;
      linesIn++;
      const line = expandTabs(raw.replace(CONTROL_CHARS, ''));
      if (line.trim() === '') {
        // moveDown alone never starts a page, so blank lines at the bottom would run off it.
        if (doc.y + doc.currentLineHeight(true) > doc.page.maxY()) doc.addPage();
        else doc.moveDown();
      } else {
        doc.text(line);
      }
      if (output.writableNeedDrain) await drained(output, piped);
    }
    doc.end();
  } catch (err) {
    lines.close();
    doc.destroy(err instanceof Error ? err : new Error(String(err)));
    await piped.catch(() => undefined);
    throw err;
  }
  await piped;
  return { linesIn, pages };
}

/** Waits for `output` to drain, or fails as soon as the pipeline into it fails. */
async function drained(output: Writable, piped: Promise<void>): Promise<void> {
  const stop = new AbortController();
  try {
    await Promise.race([once(output, 'drain', { signal: stop.signal }), piped]);
  } finally {
    stop.abort();
  }
}
