/**
 * Bidirectional text for text-to-pdf: an output line, in logical order, becomes runs of one font and one
 * embedding level in visual order, left to right, ready to be drawn one after the other.
 *
 * The levels come from the Unicode Bidirectional Algorithm (bidi-js) with the paragraph direction of the
 * input line; runs are reordered by rule L2, and characters with a mirrored form (brackets) are mirrored at
 * odd levels (rule L4: fontkit does not). What is left is the order of the characters inside a run, which
 * fontkit decides too: it reverses the glyphs of any text whose first character of a real script (not
 * Common or Inherited) is of a right-to-left script, and shapes Arabic only in that order. So a run keeps
 * its logical order when fontkit will reverse it as its level requires, and is reversed here (by grapheme
 * clusters, so that marks stay on their bases) when fontkit would not: a right-to-left run of neutrals only
 * (spaces, digits of another font, punctuation), or a left-to-right run that starts with Arabic digits.
 */
import type { SetLine } from './text-lines';
import { BIDI, EXTENDS, NEUTRAL, RTL_SCRIPT, bidi, bidiUnit, charFlags } from './text-unicode';

/** A run of text of one font, positioned after the run before it. */
export interface VisualRun {
  /** What to give pdfkit. */
  text: string;
  /** The face id of its font. */
  face: number;
  /**
   * fontkit reverses this text: pdfkit must lay it out whole (it otherwise lays out word by word, and
   * would keep the words in logical order).
   */
  whole: boolean;
}

interface LogicalRun {
  start: number;
  end: number;
  face: number;
  level: number;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const REGIONAL_INDICATOR_A = 0x1f1e6;
const REGIONAL_INDICATOR_Z = 0x1f1ff;

/** The runs of `line`, left to right. */
export function visualRuns(line: SetLine): VisualRun[] {
  const { length, codePoints, direction } = line;
  let needsBidi = direction === 'rtl';
  for (let i = 0; i < length && !needsBidi; i++)
    needsBidi = (charFlags(codePoints[i]!) & (BIDI | RTL_SCRIPT)) !== 0;
  if (!needsBidi) {
    // Left to right and nothing that reorders or that fontkit reverses: runs of one font, in logical order.
    return logicalRuns(line, () => 0).map((run) => ({
      text: String.fromCodePoint(...codePoints.subarray(run.start, run.end)),
      face: run.face,
      whole: false,
    }));
  }
  let units = '';
  for (let i = 0; i < length; i++) units += bidiUnit(codePoints[i]!);
  const { levels } = bidi.getEmbeddingLevels(units, direction);
  const runs = reorder(logicalRuns(line, (i) => levels[i] ?? 0));
  return runs.map((run) => {
    const odd = (run.level & 1) === 1;
    const runCodePoints = codePoints.subarray(run.start, run.end);
    const chars = Array.from(runCodePoints, (cp) => {
      const ch = String.fromCodePoint(cp);
      return (odd ? bidi.getMirroredCharacter(ch) : null) ?? ch;
    });
    const reversedByFontkit = fontkitReverses(runCodePoints);
    let text = chars.join('');
    if (reversedByFontkit !== odd) {
      text = runCodePoints.some(joinsNeighbours) ? reverseGraphemes(text) : chars.reverse().join('');
    }
    return { text, face: run.face, whole: reversedByFontkit };
  });
}

/** Maximal runs of one face and one level, in logical order. */
function logicalRuns({ length, faces }: SetLine, level: (i: number) => number): LogicalRun[] {
  const runs: LogicalRun[] = [];
  let run: LogicalRun | undefined;
  for (let i = 0; i < length; i++) {
    const face = faces[i]!;
    const at = level(i);
    if (run === undefined || run.face !== face || run.level !== at) {
      run = { start: i, end: i, face, level: at };
      runs.push(run);
    }
    run.end = i + 1;
  }
  return runs;
}

/** Rule L2: from the highest level to the lowest odd one, reverses every sequence of runs at that level or above. */
function reorder(runs: LogicalRun[]): LogicalRun[] {
  let highest = 0;
  let lowestOdd = Infinity;
  for (const { level } of runs) {
    highest = Math.max(highest, level);
    lowestOdd = Math.min(lowestOdd, level | 1);
  }
  for (let level = highest; level >= lowestOdd; level--) {
    for (let i = 0; i < runs.length; i++) {
      if (runs[i]!.level < level) continue;
      let end = i + 1;
      while (end < runs.length && runs[end]!.level >= level) end++;
      const reversed = runs.slice(i, end).reverse();
      runs.splice(i, reversed.length, ...reversed);
      i = end;
    }
  }
  return runs;
}

/** Whether fontkit will shape `codePoints` right to left: it goes by the first character of a real script. */
function fontkitReverses(codePoints: Uint32Array): boolean {
  for (const cp of codePoints) {
    const flags = charFlags(cp);
    if (!(flags & NEUTRAL)) return (flags & RTL_SCRIPT) !== 0;
  }
  return false;
}

/** Whether `cp` may form a grapheme cluster with a neighbour: a mark, joiner, modifier, or half of a flag. */
function joinsNeighbours(cp: number): boolean {
  return (charFlags(cp) & EXTENDS) !== 0 || (cp >= REGIONAL_INDICATOR_A && cp <= REGIONAL_INDICATOR_Z);
}

function reverseGraphemes(text: string): string {
  return Array.from(graphemes.segment(text), ({ segment }) => segment)
    .reverse()
    .join('');
}
