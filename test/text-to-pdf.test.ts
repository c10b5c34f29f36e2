/**
 * text-to-pdf tests: PDFs read back with pdfjs (text of every covered script, embedded fonts, right-to-left
 * order, Arabic shaping, long words), the input rules (binary data fails naming its offset, Latin-1 text
 * prints), missing-glyph reports, and the peak RSS of the real processor process on a 1 MB word and on
 * 5 MB of random bytes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Logger } from '../common/log';
import { InvalidInputError } from '../contract/failures';
import { MAX_PAGES, textToPdf, type TextToPdfResult } from '../processors/text-to-pdf';
import { runProcessorMeasured } from './support/peak-rss';
import { collector, pieces } from './support/streams';

/** The peak RSS the processor stays under for any input (processors/README.md, "The text-to-pdf job"). */
const MAX_RSS_MIB = 512;
/** What it stays under on a long word or binary data, which need neither many glyphs nor many pages. */
const PEAK_RSS_MIB = 256;
/** The width of the text on an A4 page with 50 pt margins. */
const TEXT_RIGHT = 595.28 - 50;

/** Pseudo-random bytes, the same for the same seed (xorshift32). */
function randomBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A logger that keeps its warnings. */
function recorder(): { log: Logger; warnings: { message: string; fields?: Record<string, unknown> }[] } {
  const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
  const ignore = () => undefined;
  return {
    log: {
      debug: ignore,
      info: ignore,
      error: ignore,
      warn: (message, fields) => warnings.push({ message, fields }),
    },
    warnings,
  };
}

async function render(
  text: string | Buffer,
  { chunk = 1000, title = 'notes.txt', log }: { chunk?: number; title?: string; log?: Logger } = {},
): Promise<{ result: TextToPdfResult; pdf: Buffer }> {
  const { stream: sink, bytes } = collector();
  const data = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const result = await textToPdf(pieces(data, chunk), sink, {
    title,
    source: 'notes.txt',
    log: log ?? recorder().log,
  });
  return { result, pdf: bytes() };
}

interface ReadBack {
  pages: number;
  /** The text of each page as pdfjs extracts it (it reorders right-to-left text to logical order). */
  pageTexts: string[];
  /** Per page, the glyphs' characters in drawing order, one string per baseline: the visual order. */
  visualLines: string[][];
  /** The fonts the pages use, without subset tags, and whether each is embedded. */
  fonts: Map<string, boolean>;
  /** The glyphs (their codes in the font) drawn for each character. */
  glyphsOf: Map<string, Set<number>>;
  /** The fonts each character is drawn in. */
  fontsOf: Map<string, Set<string>>;
}

async function readPdf(pdf: Buffer, { operators = true } = {}): Promise<ReadBack> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const doc = await pdfjs.getDocument({ data: new Uint8Array(pdf), verbosity: 0 }).promise;
  const read: ReadBack = {
    pages: doc.numPages,
    pageTexts: [],
    visualLines: [],
    fonts: new Map(),
    glyphsOf: new Map(),
    fontsOf: new Map(),
  };
  for (let i = 1; i <= doc.numPages; i++) {
    const page = await doc.getPage(i);
    const content = await page.getTextContent();
    read.pageTexts.push(content.items.map((item) => ('str' in item ? item.str : '')).join(''));
    if (!operators) continue;
    const ops = await page.getOperatorList();
    const lines = new Map<number, string>();
    let y = 0;
    let fontName = '';
    for (let op = 0; op < ops.fnArray.length; op++) {
      const args = ops.argsArray[op] as unknown[];
      if (ops.fnArray[op] === pdfjs.OPS.setFont) {
        const font = page.commonObjs.get(args[0] as string) as { name: string; missingFile: boolean };
        fontName = font.name.replace(/^[A-Z]{6}\+/, '');
        read.fonts.set(fontName, !font.missingFile);
      } else if (ops.fnArray[op] === pdfjs.OPS.setTextMatrix) {
        y = Math.round((args[0] as ArrayLike<number>)[5]!);
      } else if (ops.fnArray[op] === pdfjs.OPS.showText) {
        for (const glyph of args[0] as unknown[]) {
          if (typeof glyph !== 'object' || glyph === null) continue;
          const { unicode, fontChar } = glyph as { unicode: string; fontChar: string };
          lines.set(y, (lines.get(y) ?? '') + unicode);
          const codes = read.glyphsOf.get(unicode) ?? new Set<number>();
          codes.add(fontChar.codePointAt(0)!);
          read.glyphsOf.set(unicode, codes);
          read.fontsOf.set(unicode, (read.fontsOf.get(unicode) ?? new Set<string>()).add(fontName));
        }
      }
    }
    read.visualLines.push([...lines].sort(([a], [b]) => b - a).map(([, line]) => line));
  }
  await doc.destroy();
  return read;
}

/** The text items pdfjs finds on the first page of `pdf`, with where they end. */
async function textItems(pdf: Buffer): Promise<{ str: string; right: number }[]> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const doc = await pdfjs.getDocument({ data: new Uint8Array(pdf), verbosity: 0 }).promise;
  const { items } = await (await doc.getPage(1)).getTextContent();
  await doc.destroy();
  return items.flatMap((item) =>
    'str' in item && item.str !== ''
      ? [{ str: item.str, right: (item.transform[4] as number) + item.width }]
      : [],
  );
}

describe('textToPdf', () => {
  it('renders a multi-page UTF-8 text that pdfjs reads back', async () => {
    const words = 'Grüße, Ελληνικά, Русский';
    const lines = Array.from({ length: 300 }, (_, i) =>
      i % 10 === 0
        ? ''
        : `${i}\t${words} ${'lorem ipsum dolor '.repeat(i % 25)}${i % 97 === 1 ? 'x'.repeat(300) : ''}`,
    );
    const text = Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');
    const title = 'inbox/report-ÄÖ.txt';
    const { result, pdf } = await render(text, { title });
    assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.equal(result.linesIn, 300);
    assert.ok(result.pages > 1, `expected several pages, got ${result.pages}`);

    const read = await readPdf(pdf, { operators: false });
    assert.equal(read.pages, result.pages);
    assert.ok(read.pageTexts[0]!.includes(title), 'title on the first page');
    const all = read.pageTexts.join('\n');
    for (const word of ['Grüße', 'Ελληνικά', 'Русский', '299'])
      assert.ok(all.includes(word), `${word} in the text`);
    assert.ok(!all.includes('\t'), 'tabs are expanded');
    assert.equal(result.missingGlyphs, undefined);
    assert.equal(result.invalidSequences, undefined);
  });

  it('sets Chinese, Japanese, Korean, Hebrew, Arabic and emoji in embedded fonts that pdfjs reads back', async () => {
    const samples = [
      '中文字体测试',
      'ひらがな カタカナ',
      '한국어 문장',
      'שלום',
      'עולם',
      'مرحبا',
      'بالعالم',
      '🎉👍🚀',
    ];
    const text = [
      '中文字体测试',
      'ひらがな カタカナ',
      '한국어 문장',
      'שלום עולם',
      'مرحبا بالعالم',
      'emoji 🎉👍🚀',
    ];
    const { result, pdf } = await render(text.join('\n'), { title: '报告.txt' });
    assert.equal(result.missingGlyphs, undefined, 'every character has a glyph');
    const read = await readPdf(pdf);
    const all = read.pageTexts.join('\n');
    for (const sample of [...samples, '报告.txt']) assert.ok(all.includes(sample), `${sample} in ${all}`);
    for (const font of [
      'DejaVuSans-Bold',
      'DejaVuSans',
      'NotoSansSC-Regular',
      'NotoSansKR-Regular',
      'NotoEmoji-Regular',
    ])
      assert.equal(read.fonts.get(font), true, `${font} embedded: ${JSON.stringify([...read.fonts])}`);
  });

  it('loads only the fonts a text needs: plain Latin uses DejaVu Sans alone', async () => {
    const { pdf } = await render('plain text, plain title\n', { title: 'plain.txt' });
    const read = await readPdf(pdf);
    assert.deepEqual([...read.fonts.keys()].sort(), ['DejaVuSans', 'DejaVuSans-Bold']);
  });

  it('draws right-to-left text in visual order, with its spaces, mirrored brackets and numbers left to right', async () => {
    const { pdf } = await render(
      [
        'Hello שלום 123 עולם!',
        'שלום (עולם) 123',
        'שלום   עולם',
        '(x) שלום',
        'שלום 🎉👍 עולם',
        'abc ١٢٣',
      ].join('\n'),
      { title: 't' },
    );
    const read = await readPdf(pdf);
    assert.deepEqual(read.visualLines[0]!.slice(1), [
      // A left-to-right paragraph with a right-to-left island: the island reads right to left.
      'Hello םלוע 123 םולש!',
      // A right-to-left paragraph (first strong character Hebrew): the brackets mirrored, the number not reversed.
      '123 (םלוע) םולש',
      'םלוע   םולש',
      // Left to right from its first strong character, x.
      '(x) םולש',
      // Emoji between right-to-left words: a run of neutrals in another font, which fontkit does not reverse.
      'םלוע 👍🎉 םולש',
      // Arabic-Indic digits, left to right, although fontkit reverses runs of the Arabic script.
      'abc ١٢٣',
    ]);
  });

  it('right-aligns right-to-left paragraphs', async () => {
    const { pdf } = await render('שלום עולם\nשלום', { title: 't' });
    const body = (await textItems(pdf)).filter(({ str }) => str !== 't');
    assert.equal(body.length, 2, JSON.stringify(body));
    for (const { str, right } of body)
      assert.ok(Math.abs(right - TEXT_RIGHT) < 0.5, `${str} ends at the margin`);
  });

  it('shapes Arabic: a letter takes its initial, medial and final forms', async () => {
    const { pdf } = await render('ببب', { title: 't' });
    const read = await readPdf(pdf);
    assert.equal(read.glyphsOf.get('ب')?.size, 3, 'three different glyphs for the three positions');
  });

  it('keeps a cluster, and an Arabic word, in one font: that of the first font with all of it', async () => {
    // DejaVu Sans has the Hebrew points but not the cantillation marks (U+0596), nor the Urdu yeh barree (U+06D2).
    const { result, pdf } = await render('שָׁלוֹם\nק\u0596\nبے', { title: 't' });
    assert.equal(result.missingGlyphs, undefined);
    const { fontsOf } = await readPdf(pdf);
    assert.deepEqual([...fontsOf.get('ש')!], ['DejaVuSans'], 'a cluster DejaVu Sans has stays there');
    assert.deepEqual([...fontsOf.get('ק')!], ['NotoSansHebrew-Regular'], 'its mark moves the cluster');
    assert.deepEqual([...fontsOf.get('ب')!], ['NotoSansArabic-Regular'], 'its last letter moves the word');
  });

  it('breaks a word wider than the line into lines that fit, and keeps every character', async () => {
    const word = 'x'.repeat(20_000);
    const { result, pdf } = await render(`${word}\nshort line`, { title: 't' });
    assert.equal(result.linesIn, 2);
    const read = await readPdf(pdf);
    const lines = read.visualLines.flat().slice(1);
    assert.equal(lines.join('').replaceAll('short line', ''), word);
    const full = lines[0]!.length;
    assert.ok(full > 50 && lines.slice(0, -2).every((line) => line.length === full), 'every full line alike');
    for (const { right } of await textItems(pdf)) assert.ok(right <= TEXT_RIGHT + 0.01, 'within the margin');
  });

  it('reports characters no font has, by script, printed as U+FFFD', async () => {
    const { log, warnings } = recorder();
    const { result, pdf } = await render('Tamil: தமிழ், and Latin\n', { title: 't', log });
    assert.deepEqual(result.missingGlyphs, { count: 5, scripts: { Tamil: 5 } });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /no glyph in any font for 5 characters/);
    assert.deepEqual(warnings[0]!.fields, { scripts: { Tamil: 5 } });
    const read = await readPdf(pdf, { operators: false });
    assert.ok(read.pageTexts[0]!.includes('Tamil: \ufffd\ufffd\ufffd\ufffd\ufffd, and Latin'));
  });

  it('keeps sequences cut across chunks, drops a BOM, ends lines at LF, CRLF and CR', async () => {
    const text = '\ufeffZürich 中文 😀 שלום\r\nzwei\rdrei\n\nfünf';
    for (const chunk of [1, 2, 3, 1000]) {
      const { result, pdf } = await render(text, { chunk, title: 't' });
      assert.equal(result.linesIn, 5, `chunks of ${chunk}`);
      assert.equal(result.invalidSequences, undefined, `chunks of ${chunk}`);
      const read = await readPdf(pdf);
      assert.equal(
        read.visualLines[0]![1],
        'Zürich 中文 😀 םולש',
        `chunks of ${chunk}: no BOM, nothing replaced`,
      );
      const page = read.pageTexts[0]!;
      for (const word of ['Zürich', '中文', '😀', 'שלום', 'zwei', 'drei', 'fünf'])
        assert.ok(page.includes(word), `${word} (chunks of ${chunk})`);
    }
  });

  it('fails on a NUL byte, naming its offset, however the input is cut', async () => {
    const text = Buffer.concat([
      Buffer.from('text\n'.repeat(300)),
      Buffer.from([0]),
      Buffer.from('more text\n'),
    ]);
    for (const chunk of [65536, 1, 7]) {
      await assert.rejects(render(text, { chunk }), (err: unknown) => {
        assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${String(err)}`);
        assert.equal(
          err.message,
          'byte 1500 of notes.txt is a NUL byte: this is binary data, not text. text-to-pdf reads UTF-8 text; upload a text file',
        );
        return true;
      });
    }
  });

  it('fails on binary data without a NUL within its first KiB, without reading on', async () => {
    const bytes = randomBytes(5_000_000, 7).map((b) => b || 1);
    let read = 0;
    async function* input() {
      for (let at = 0; at < bytes.length; at += 16384) {
        read += 16384;
        yield Buffer.from(bytes.subarray(at, at + 16384));
      }
    }
    const { stream: sink } = collector();
    await assert.rejects(textToPdf(input(), sink, { title: 't', source: 'random.bin' }), (err: unknown) => {
      assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${String(err)}`);
      assert.match(
        err.message,
        /^bytes 0-\d{3,4} of random\.bin hold 257 invalid UTF-8 sequences, the first at byte \d+: /,
      );
      return true;
    });
    assert.ok(read <= 16384, `${read} bytes read`);
  });

  it('judges a block of 1 KiB: 256 invalid sequences print, 257 fail', async () => {
    // Each 0xE9 before an ASCII letter or another 0xE9 is one invalid sequence (a lead byte without its continuation).
    const block = (invalid: number) =>
      Buffer.concat([Buffer.alloc(invalid, 0xe9), Buffer.alloc(1024 - invalid, 0x61)]);
    const { result } = await render(Buffer.concat([block(256), Buffer.from('\n')]));
    assert.equal(result.invalidSequences, 256);
    await assert.rejects(
      render(Buffer.concat([block(256), block(257), block(0)])),
      /^InvalidInputError: bytes 1024-1280 of notes\.txt hold 257 invalid UTF-8 sequences, the first at byte 1024: /,
    );
    // A short last block is judged on its size, but fails only with more than 16 invalid sequences.
    assert.equal((await render(Buffer.from('Gr\xfc\xdfe', 'latin1'))).result.invalidSequences, 2);
    await assert.rejects(
      render(Buffer.from('\xe9a'.repeat(17), 'latin1')),
      /bytes 0-33 of notes\.txt hold 17 invalid/,
    );
  });

  it('prints Latin-1 text with U+FFFD for its accented bytes, and counts them', async () => {
    const line = "Grüße aus Köln: à côté de l'élève, naïve fiancée. ";
    const text = Buffer.from(`${line.repeat(5)}\n`.repeat(200), 'latin1');
    const accented = [...line].filter((c) => c > '\x7f').length * 5 * 200;
    const { result, pdf } = await render(text);
    assert.equal(result.invalidSequences, accented);
    const page = (await readPdf(pdf, { operators: false })).pageTexts[0]!;
    assert.ok(page.includes('Gr\ufffd\ufffde aus K\ufffdln'), page.slice(0, 200));
  });

  it('fails when its output fails', async () => {
    const failing = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error('disk full'));
      },
    });
    await assert.rejects(
      textToPdf(pieces(Buffer.from('line\n'.repeat(100_000)), 1000), failing, { title: 't', source: 'x' }),
      /disk full/,
    );
  });
});

describe('text-to-pdf processor', { concurrency: 1 }, () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'text-to-pdf-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it(`sets a 1 MB word: exit 0, peak RSS under ${PEAK_RSS_MIB} MiB, every character in the PDF`, async () => {
    const input = path.join(dir, 'word.txt');
    fs.writeFileSync(input, 'x'.repeat(1 << 20));
    const out = path.join(dir, 'word.pdf');
    const run = await runProcessorMeasured(['--job', 'text-to-pdf', input, out]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.peakRssMiB < PEAK_RSS_MIB, `peak RSS ${run.peakRssMiB.toFixed(0)} MiB`);
    const report = JSON.parse(run.stdout) as { linesIn: number; pages: number };
    assert.equal(report.linesIn, 1);
    const read = await readPdf(fs.readFileSync(out), { operators: false });
    assert.equal(read.pages, report.pages);
    const xs = read.pageTexts.join('').replace(/^.*word\.txt/, '');
    assert.equal(xs.length, 1 << 20);
    assert.match(xs, /^x+$/);
  });

  it(`refuses 5 MB of random bytes: exit 65 naming the offset, peak RSS under ${PEAK_RSS_MIB} MiB`, async () => {
    const input = path.join(dir, 'random.bin');
    const bytes = randomBytes(5_000_000, 1);
    fs.writeFileSync(input, bytes);
    const out = path.join(dir, 'random.pdf');
    const run = await runProcessorMeasured(['--job', 'text-to-pdf', input, out]);
    assert.equal(run.code, 65, run.stderr);
    assert.ok(run.peakRssMiB < PEAK_RSS_MIB, `peak RSS ${run.peakRssMiB.toFixed(0)} MiB`);
    assert.equal(
      run.stderr.trim(),
      `byte ${bytes.indexOf(0)} of ${input} is a NUL byte: this is binary data, not text. text-to-pdf reads UTF-8 text; upload a text file`,
    );
    assert.equal(fs.existsSync(out), false, 'no output left');
  });

  it(`sets 2 MB of distinct words under ${MAX_RSS_MIB} MiB: no layout is kept per word`, async () => {
    // pdfkit's own layout cache (fontLayoutCache) would keep one entry per distinct word: 770 MiB here.
    const input = path.join(dir, 'hex.txt');
    const words = randomBytes(880_000, 3).toString('hex').match(/.{8}/g)!;
    const lines = Array.from({ length: words.length / 10 }, (_, i) =>
      words.slice(i * 10, i * 10 + 10).join(' '),
    );
    fs.writeFileSync(input, lines.join('\n'));
    const run = await runProcessorMeasured(['--job', 'text-to-pdf', input, path.join(dir, 'hex.pdf')]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.peakRssMiB < MAX_RSS_MIB, `peak RSS ${run.peakRssMiB.toFixed(0)} MiB`);
  });

  it(`stops at ${MAX_PAGES} pages: exit 65, peak RSS under ${MAX_RSS_MIB} MiB with a slow file output`, async () => {
    // Blank lines make pages fastest: a piece of input makes a thousand, which pdfkit buffers unless the job waits.
    const input = path.join(dir, 'blank.txt');
    fs.writeFileSync(input, '\n'.repeat(64 * (MAX_PAGES + 10)));
    const out = path.join(dir, 'blank.pdf');
    const run = await runProcessorMeasured(['--job', 'text-to-pdf', input, out]);
    assert.equal(run.code, 65, run.stderr);
    assert.equal(
      run.stderr.trim(),
      `${input} needs more than ${MAX_PAGES} pages: text-to-pdf makes PDFs of up to ${MAX_PAGES} pages; split the file`,
    );
    assert.ok(run.peakRssMiB < MAX_RSS_MIB, `peak RSS ${run.peakRssMiB.toFixed(0)} MiB`);
    assert.equal(fs.existsSync(out), false, 'no output left');
  });

  it('reports the scripts it has no glyphs for: in the statistics and on stderr', async () => {
    const input = path.join(dir, 'tamil.txt');
    fs.writeFileSync(input, 'வணக்கம் உலகம் and ধন্যবাদ\n');
    const out = path.join(dir, 'tamil.pdf');
    const run = await runProcessorMeasured(['--job', 'text-to-pdf', input, out]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { missingGlyphs: unknown };
    assert.deepEqual(report.missingGlyphs, { count: 19, scripts: { Tamil: 12, Bengali: 7 } });
    const line = run.stderr.split('\n').find((l) => l.includes('no glyph'));
    const warning = JSON.parse(line ?? '{}') as Record<string, unknown>;
    assert.deepEqual(
      [warning.level, warning.component, warning.msg, warning.scripts],
      [
        'warn',
        'text-to-pdf',
        'no glyph in any font for 19 characters, printed as U+FFFD',
        { Tamil: 12, Bengali: 7 },
      ],
    );
  });
});
