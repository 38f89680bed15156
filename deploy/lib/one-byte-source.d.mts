// Types of one-byte-source.mjs for the TypeScript tests (test/firmware/bundle.test.ts).
import type { transform } from 'esbuild';

export function oneByteSource(code: string, esbuildTransform: typeof transform): Promise<string>;
