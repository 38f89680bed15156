#!/usr/bin/env node
// `npm run build`: the deployable JavaScript. esbuild bundles firmware/entry.ts and
// everything it imports (our sources, zod, pino, commander...) into one ES module,
// dist/piwire.mjs, which plain `node` runs: no TypeScript compiler at start-up (tsx
// compiled every module at every start: ~0.8 s and ~45 MB more RSS; bench/BASELINE.md
// "Start-up"). A bundle beat per-file output here: one file to read and link instead of
// ~200 modules to resolve (measured in BASELINE.md).
//
// What stays outside the bundle and is loaded from node_modules/build at run time:
// the optional native packages (raw-socket, i2c-bus, onoff: compiled .node files, found
// through node_modules from the bundle's directory), our own addon
// (build/Release/piwire_link.node, found from the package root: hal/package-root.ts)
// and uPlot's browser files (read by the status page through require.resolve).
// The bundle is not minified: stack traces and CPU profiles keep function names and
// readable lines. Every output file is written as a one-byte source (no character above
// U+00FF, deploy/lib/one-byte-source.mjs): V8 keeps the source for the process's life,
// and one `→` in a kept comment doubled it (~1 MB of idle RSS).
//
// usage: node deploy/build.mjs [--outdir DIR] [--bench]
//   --outdir DIR  where piwire.mjs goes (default dist/ in the checkout; the installer
//                 builds straight into the program it installs)
//   --bench       also bench/firmware-entry.mjs: the firmware with the benchmark probe
//                 (bench/lib/firmware-entry.ts), which `npm run bench` starts
import { build, transform } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { oneByteSource } from './lib/one-byte-source.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { outdir: { type: 'string' }, bench: { type: 'boolean', default: false } } });
const outdir = resolve(values.outdir ?? join(ROOT, 'dist'));

/** One bundle (with its chunks) of `entry` into `directory` as `name`.mjs. */
async function bundle(entry, directory, name) {
  const result = await build({
    entryPoints: [{ in: join(ROOT, entry), out: name }],
    outdir: directory,
    outExtension: { '.js': '.mjs' },
    absWorkingDir: ROOT,
    bundle: true,
    // What the firmware imports with import() (the status page, the shell client) goes
    // to chunks of its own, loaded only when used: less to parse and hold at start-up.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    // package.json engines: Node >= 20.
    target: 'node20',
    external: ['raw-socket', 'i2c-bus', 'onoff'],
    // CommonJS dependencies (commander, pino) call require() for Node's modules; an ES
    // module has none of its own, so each output file makes one.
    banner: { js: "import { createRequire as piwireCreateRequire } from 'node:module';\nconst require = piwireCreateRequire(import.meta.url);" },
    legalComments: 'eof',
    logLevel: 'warning',
    write: false,
  });
  for (const file of result.outputFiles) {
    await mkdir(dirname(file.path), { recursive: true });
    await writeFile(file.path, file.path.endsWith('.mjs') ? await oneByteSource(file.text, transform) : file.contents);
  }
}

await bundle('firmware/entry.ts', outdir, 'piwire');
// Its own directory, so the deployed bundle's chunks are the same with or without it.
if (values.bench) await bundle('bench/lib/firmware-entry.ts', join(outdir, 'bench'), 'firmware-entry');
