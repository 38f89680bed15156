// The bundle's text as a one-byte string in V8 (deploy/build.mjs). V8 keeps a script's
// source for the process's life (functions are compiled lazily from it) and stores it
// with one byte a character only when every character is at most U+00FF: a single `→`
// anywhere makes the whole ~1 MB bundle a two-byte string, ~1 MB more of the heap's
// large-object space resident from start-up (issue 13: the 21 such characters in kept
// comments cost 1.0 MB of heap after GC and 0.9-1.0 MB of idle RSS on the simulated board).
//
// esbuild already writes strings, template literals, regular expressions and names as
// ASCII (its default `charset: 'ascii'`); what it leaves are the comments it keeps (the
// doc comments of class members, some line comments, the legal comments). Those
// characters are replaced here by ASCII stand-ins, and the result is checked to be the
// same program: the same code once esbuild has dropped every comment from both.

/** ASCII for the characters our comments use; any other becomes `U+XXXX`. */
const STAND_INS = new Map([
  ['\u2192', '->'],
  ['\u2190', '<-'],
  ['\u2194', '<->'],
  ['\u2212', '-'],
  ['\u2013', '-'],
  ['\u2014', '--'],
  ['\u2026', '...'],
  ['\u2264', '<='],
  ['\u2265', '>='],
  ['\u2260', '!='],
  ['\u2248', '~'],
  ['\u2018', "'"],
  ['\u2019', "'"],
  ['\u201c', '"'],
  ['\u201d', '"'],
  ['\u2308', 'ceil('],
  ['\u2309', ')'],
  ['\u230a', 'floor('],
  ['\u230b', ')'],
  ['\u25cf', '(on)'],
  ['\u25cb', '(off)'],
]);

const ABOVE_ONE_BYTE = /[\u0100-\u{10ffff}]/gu;

function standIn(character) {
  return STAND_INS.get(character) ?? `U+${character.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * `code` (an esbuild output file) with every character above U+00FF replaced; throws if
 * that changed anything but comments. `transform` is esbuild's.
 */
export async function oneByteSource(code, transform) {
  const rewritten = code.replace(ABOVE_ONE_BYTE, standIn);
  if (rewritten === code) return code;
  const withoutComments = { minifyWhitespace: true, legalComments: 'none' };
  const [before, after] = await Promise.all([transform(code, withoutComments), transform(rewritten, withoutComments)]);
  if (before.code !== after.code) throw new Error('a character above U+00FF outside a comment: the bundle cannot be made a one-byte source');
  return rewritten;
}
