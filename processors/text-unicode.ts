/**
 * The Unicode properties the text-to-pdf typesetter needs per code point, computed on first sight and kept in
 * a table of one entry per code point, so that the per-character loop reads a typed array instead of running
 * property look-ups and regular expressions.
 *
 * Scripts come from two sources on purpose. Whether fontkit will treat a run as right to left (and so reverse
 * its glyphs) must be predicted with the data fontkit itself uses, `unicode-properties`; the names reported
 * for characters without a glyph come from the JavaScript engine's newer Unicode data, which knows recent
 * scripts by name.
 */
import bidiFactory from 'bidi-js';
import { getCategory, getScript } from 'unicode-properties';

/** The Unicode Bidirectional Algorithm (bidi-js), shared by everything that lays out text. */
export const bidi = bidiFactory();

/** Set on every computed entry, so that 0 means "not computed yet". */
const COMPUTED = 1 << 0;
/** A space that allows a line break after it (Zs, except the no-break spaces). */
export const SPACE = 1 << 1;
/** Takes no room on the line: nonspacing and enclosing marks, default-ignorable characters. */
export const ZERO_WIDTH = 1 << 2;
/**
 * Continues the grapheme cluster before it (marks, default-ignorable characters such as ZWJ and variation
 * selectors, emoji modifiers): it stays in the font of its base character, and a line never breaks before it.
 */
export const EXTENDS = 1 << 3;
/**
 * Script Common, Inherited or Unknown (digits, punctuation, spaces, symbols): it takes the font of the
 * character before it when that font has it, and fontkit skips it when it detects the script of a run.
 */
export const NEUTRAL = 1 << 4;
/** Of a script that fontkit shapes right to left: a run whose first non-neutral character has it is reversed by fontkit. */
export const RTL_SCRIPT = 1 << 5;
/** Han, Hiragana or Katakana: these scripts are written without spaces, so a line may break before each. */
export const BREAK_BEFORE = 1 << 6;
/**
 * A bidirectional class that can give a line levels other than 0 in a left-to-right paragraph (R, AL, AN and
 * the explicit embeddings, overrides and isolates): a line without any is laid out without the bidi algorithm.
 */
export const BIDI = 1 << 7;
/** Bidirectional class L: a strong left-to-right character. */
export const STRONG_LTR = 1 << 8;
/** Bidirectional class R or AL: a strong right-to-left character. */
export const STRONG_RTL = 1 << 9;
/** Of the Arabic script, whose letters join only within a run of one font. */
export const ARABIC = 1 << 10;
/** Default ignorable (ZWJ, variation selectors, bidi controls, …): needs no glyph, fontkit hides it. */
export const IGNORABLE = 1 << 11;

const CODE_POINTS = 0x110000;
const flagsTable = new Uint16Array(CODE_POINTS);

/** No-break spaces: Zs, but a line must not break after them. */
const NO_BREAK_SPACES = new Set([0x00a0, 0x2007, 0x202f]);
/** The right-to-left scripts of fontkit (its `RTL` map of OpenType script tags), by Unicode script name. */
const FONTKIT_RTL_SCRIPTS = new Set([
  'Arabic',
  'Hebrew',
  'Syriac',
  'Thaana',
  'Cypriot',
  'Kharoshthi',
  'Phoenician',
  'Nko',
  'Lydian',
  'Avestan',
  'Imperial_Aramaic',
  'Inscriptional_Pahlavi',
  'Inscriptional_Parthian',
  'Old_South_Arabian',
  'Old_Turkic',
  'Samaritan',
  'Mandaic',
  'Meroitic_Cursive',
  'Meroitic_Hieroglyphs',
  'Manichaean',
  'Mende_Kikakui',
  'Nabataean',
  'Old_North_Arabian',
  'Palmyrene',
  'Psalter_Pahlavi',
]);
const LEVEL_CHANGING_CLASSES = new Set([
  'R',
  'AL',
  'AN',
  'LRE',
  'RLE',
  'LRO',
  'RLO',
  'PDF',
  'LRI',
  'RLI',
  'FSI',
  'PDI',
]);
const DEFAULT_IGNORABLE = /^\p{Default_Ignorable_Code_Point}$/u;
const EMOJI_MODIFIER = /^\p{Emoji_Modifier}$/u;
const WRITTEN_WITHOUT_SPACES = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]$/u;

/** The flags ({@link SPACE}, {@link NEUTRAL}, …) of code point `cp`. */
export function charFlags(cp: number): number {
  const cached = flagsTable[cp] ?? 0;
  if (cached !== 0) return cached;
  const flags = computeFlags(cp);
  flagsTable[cp] = flags;
  return flags;
}

function computeFlags(cp: number): number {
  const ch = String.fromCodePoint(cp);
  const category = getCategory(cp);
  const script = getScript(cp);
  const ignorable = DEFAULT_IGNORABLE.test(ch);
  const mark = category === 'Mn' || category === 'Mc' || category === 'Me';
  let flags = COMPUTED;
  if (category === 'Zs' && !NO_BREAK_SPACES.has(cp)) flags |= SPACE;
  if (category === 'Mn' || category === 'Me' || ignorable) flags |= ZERO_WIDTH;
  if (mark || ignorable || EMOJI_MODIFIER.test(ch)) flags |= EXTENDS;
  if (ignorable) flags |= IGNORABLE;
  if (script === 'Common' || script === 'Inherited' || script === 'Unknown') flags |= NEUTRAL;
  if (FONTKIT_RTL_SCRIPTS.has(script)) flags |= RTL_SCRIPT;
  if (script === 'Arabic') flags |= ARABIC;
  if (WRITTEN_WITHOUT_SPACES.test(ch)) flags |= BREAK_BEFORE;
  const bidiClass = bidi.getBidiCharTypeName(ch);
  if (LEVEL_CHANGING_CLASSES.has(bidiClass)) flags |= BIDI;
  if (bidiClass === 'L') flags |= STRONG_LTR;
  if (bidiClass === 'R' || bidiClass === 'AL') flags |= STRONG_RTL;
  return flags;
}

/**
 * One BMP character of each bidirectional class, to stand for a supplementary-plane character in the text
 * given to bidi-js: it classifies each UTF-16 unit on its own, and so would see the two halves of a surrogate
 * pair (an emoji, say) as strong left-to-right characters.
 */
const BIDI_STAND_INS: Record<string, string> = {
  L: 'a',
  R: '\u05d0',
  AL: '\u0627',
  EN: '0',
  ES: '+',
  ET: '#',
  AN: '\u0660',
  CS: ',',
  NSM: '\u0300',
  BN: '\u00ad',
  B: '\u2029',
  S: '\u001f',
  WS: ' ',
  ON: '!',
  LRE: '\u202a',
  RLE: '\u202b',
  LRO: '\u202d',
  RLO: '\u202e',
  PDF: '\u202c',
  LRI: '\u2066',
  RLI: '\u2067',
  FSI: '\u2068',
  PDI: '\u2069',
};

/** `cp` as one UTF-16 unit of the same bidirectional class, so that bidi-js sees one unit per code point. */
export function bidiUnit(cp: number): string {
  if (cp < 0x10000) return String.fromCharCode(cp);
  return BIDI_STAND_INS[bidi.getBidiCharTypeName(String.fromCodePoint(cp))] ?? 'a';
}

/**
 * The Unicode scripts by name, as the engine's `\p{Script=…}` knows them (Unicode 17). Tested in this order;
 * a code point of none of them (assigned after the engine's Unicode version) is reported as Unknown.
 */
const SCRIPT_NAMES =
  `Common Inherited Latin Greek Cyrillic Armenian Hebrew Arabic Syriac Thaana Nko Samaritan Mandaic
  Devanagari Bengali Gurmukhi Gujarati Oriya Tamil Telugu Kannada Malayalam Sinhala Thai Lao Tibetan Myanmar
  Georgian Hangul Ethiopic Cherokee Canadian_Aboriginal Ogham Runic Tagalog Hanunoo Buhid Tagbanwa Khmer
  Mongolian Limbu Tai_Le New_Tai_Lue Buginese Tai_Tham Balinese Sundanese Batak Lepcha Ol_Chiki Vai Bamum
  Hiragana Katakana Bopomofo Han Yi Lisu Javanese Cham Tai_Viet Meetei_Mayek Kayah_Li Rejang Saurashtra
  Syloti_Nagri Phags_Pa Tifinagh Glagolitic Coptic Braille Adlam Ahom Anatolian_Hieroglyphs Avestan Bassa_Vah
  Beria_Erfe Bhaiksuki Brahmi Carian Caucasian_Albanian Chakma Chorasmian Cuneiform Cypriot Cypro_Minoan
  Deseret Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs Elbasan Elymaic Garay Gothic Grantha Gunjala_Gondi
  Gurung_Khema Hanifi_Rohingya Hatran Imperial_Aramaic Inscriptional_Pahlavi Inscriptional_Parthian Kaithi
  Kawi Kharoshthi Khitan_Small_Script Khojki Khudawadi Kirat_Rai Linear_A Linear_B Lycian Lydian Mahajani
  Makasar Manichaean Marchen Masaram_Gondi Medefaidrin Mende_Kikakui Meroitic_Cursive Meroitic_Hieroglyphs
  Miao Modi Mro Multani Nabataean Nag_Mundari Nandinagari Newa Nushu Nyiakeng_Puachue_Hmong Ol_Onal
  Old_Hungarian Old_Italic Old_North_Arabian Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic
  Old_Uyghur Osage Osmanya Pahawh_Hmong Palmyrene Pau_Cin_Hau Phoenician Psalter_Pahlavi Sharada Shavian
  Siddham Sidetic SignWriting Sogdian Sora_Sompeng Soyombo Sunuwar Tai_Yo Takri Tangsa Tangut Tirhuta Todhri
  Tolong_Siki Toto Tulu_Tigalari Ugaritic Vithkuqi Wancho Warang_Citi Yezidi Zanabazar_Square Unknown`
    .split(/\s+/)
    .filter((name) => name !== '');

/** One test per script name; an engine with older Unicode data that lacks a name simply has no code point of it. */
const SCRIPT_TESTS = SCRIPT_NAMES.flatMap((name) => {
  try {
    return [{ name, test: new RegExp(`^\\p{Script=${name}}$`, 'u') }];
  } catch {
    return [];
  }
});
/** Index + 1 into {@link SCRIPT_TESTS} per code point; 0: not looked up yet; {@link NO_SCRIPT}: none matched. */
const scriptTable = new Uint8Array(CODE_POINTS);
const NO_SCRIPT = 0xff;

/** The name of the Unicode script of `cp` ("Tamil", "Common", …), for reports. */
export function scriptName(cp: number): string {
  let index = scriptTable[cp] ?? 0;
  if (index === 0) {
    const ch = String.fromCodePoint(cp);
    const found = SCRIPT_TESTS.findIndex(({ test }) => test.test(ch));
    index = found < 0 ? NO_SCRIPT : found + 1;
    scriptTable[cp] = index;
  }
  return SCRIPT_TESTS[index - 1]?.name ?? 'Unknown';
}
