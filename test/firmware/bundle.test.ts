/**
 * The deployed bundle (deploy/build.mjs) as V8 holds it at start-up (issue 13, idle RSS):
 *
 * - every output file is a one-byte source: V8 keeps each script's source for the
 *   process's life, two bytes a character as soon as one character is above U+00FF (a
 *   `→` in a comment esbuild keeps made the ~1 MB bundle a ~2 MB string);
 * - no loop runs in the bundle's top-level code: esbuild hoists every ES module's
 *   top-level statements into one function, and a loop there spends that function's
 *   interrupt budget, so V8 compiles the whole of it with Sparkplug (the CRC-32C tables'
 *   loops did: a 240 KB baseline code object, idle RSS +0.5 MB).
 *
 * Both fail on main before branch h-rss (a `→` in the TCP code's comments, the loops
 * in src/storage/crc32c.ts).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { transform } from 'esbuild';
import ts from 'typescript';
import { oneByteSource } from '../../deploy/lib/one-byte-source.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The top-level loops of an ES module's text: not inside functions; class static blocks and static fields run at load, so they count. */
function topLevelLoops(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const loops: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node)) return;
    if (ts.isClassLike(node)) {
      for (const member of node.members) {
        if (ts.isClassStaticBlockDeclaration(member)) ts.forEachChild(member.body, visit);
        else if (ts.isPropertyDeclaration(member) && member.initializer !== undefined && member.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.StaticKeyword)) visit(member.initializer);
      }
      return;
    }
    if (ts.isIterationStatement(node, false)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      loops.push(`${fileName}:${line + 1}: ${node.getText(source).slice(0, 60)}`);
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(source, visit);
  return loops;
}

describe('the deployed bundle', () => {
  let outdir = '';
  let files: { name: string; text: string }[] = [];

  before(() => {
    outdir = mkdtempSync(join(tmpdir(), 'piwire-bundle-'));
    execFileSync(process.execPath, [join(ROOT, 'deploy/build.mjs'), '--outdir', outdir], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    files = readdirSync(outdir, { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.mjs'))
      .map((name) => ({ name, text: readFileSync(join(outdir, name), 'utf8') }));
  });
  after(() => rmSync(outdir, { recursive: true, force: true }));

  it('is built: piwire.mjs and its chunks', () => {
    assert.ok(files.some((file) => file.name === 'piwire.mjs'));
    assert.ok(files.length > 1, 'the status page and the shell client are chunks of their own');
  });

  it('holds no character above U+00FF in any file (a one-byte source in V8)', () => {
    for (const { name, text } of files) {
      const match = /[\u0100-\u{10ffff}]/u.exec(text);
      assert.equal(match, null, match === null ? '' : `${name}: ${JSON.stringify(match[0])} at ${text.slice(Math.max(0, match.index - 60), match.index + 20)}`);
    }
  });

  it('runs no loop in its top-level code', () => {
    for (const { name, text } of files) assert.deepEqual(topLevelLoops(name, text), []);
  });

  it('the top-level loop check finds a loop at the top level, in a block and in a static block, not in a function', () => {
    const text = 'for (let i = 0; i < 3; i++) f(i);\n{ while (g()) h(); }\nclass A { static { do x(); while (y()); } m() { for (const a of b) c(a); } }\nfunction k() { for (;;) break; }\n';
    assert.deepEqual(topLevelLoops('x.mjs', text).map((loop) => loop.split(':')[1]), ['1', '2', '3']);
  });
});

describe('oneByteSource', () => {
  it('replaces characters above U+00FF in comments and keeps those up to U+00FF', async () => {
    const code = '// RFC 9293 §3.10 → ≤ 2·SMSS\nconst a = 1; /* x − y … ⌈z⌉ ☃ */\n';
    assert.equal(await oneByteSource(code, transform), '// RFC 9293 §3.10 -> <= 2·SMSS\nconst a = 1; /* x - y ... ceil(z) U+2603 */\n');
  });

  it('returns code without such characters unchanged', async () => {
    const code = 'const s = "\\u2192"; // ASCII only\n';
    assert.equal(await oneByteSource(code, transform), code);
  });

  it('refuses a character above U+00FF outside a comment (the program would change)', async () => {
    await assert.rejects(oneByteSource('const arrow = "→";\n', transform), /outside a comment/);
  });
});
