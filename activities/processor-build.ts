/**
 * The compiled processor the local and inline backends run: its entry point (processors/main) for a child
 * process, its thread entry (processors/thread) for a worker thread. Built with tsc (dist/), they are the
 * sibling files of this module; from the sources (tests, `npm run dev`) they are bundled once per process, so
 * that no run compiles TypeScript.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { extname, join } from 'node:path';

/** Absolute paths of the compiled processor entry points. */
export interface ProcessorEntry {
  /** processors/main: the processor as a process. */
  main: string;
  /** processors/thread: the processor as a worker thread of the worker. */
  thread: string;
}

let built: Promise<ProcessorEntry> | undefined;

/** The compiled processor: dist/processors/ when this module is compiled, else a bundle built once. */
export function processorEntry(): Promise<ProcessorEntry> {
  built ??=
    extname(__filename) === '.ts'
      ? bundle()
      : Promise.resolve({
          main: join(__dirname, '..', 'processors', 'main.js'),
          thread: join(__dirname, '..', 'processors', 'thread.js'),
        });
  return built;
}

/**
 * Bundles the entry points, and the worker of the parallel CSV jobs that csv-blocks.ts starts next to itself, flat
 * into a fresh folder of `.data/processor-build/`, removed when the process exits. The folder is inside the
 * repository so that the packages, left out of the bundles, resolve to its node_modules (fonts, pdfkit's
 * data); fresh, so that test processes running side by side do not overwrite each other's bundles.
 */
async function bundle(): Promise<ProcessorEntry> {
  const root = join(__dirname, '..');
  const parent = join(root, '.data', 'processor-build');
  mkdirSync(parent, { recursive: true });
  const outdir = mkdtempSync(join(parent, `${process.pid}-`));
  process.once('exit', () => rmSync(outdir, { recursive: true, force: true }));
  // Loaded only here: the compiled worker never bundles.
  const { build } = await import('esbuild');
  await build({
    entryPoints: ['main', 'thread', 'csv-block-worker'].map((name) => join(root, 'processors', `${name}.ts`)),
    outdir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    packages: 'external',
    target: 'node20',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  return { main: join(outdir, 'main.js'), thread: join(outdir, 'thread.js') };
}
