/**
 * Runs the processor as {@link runProcessor} does and reports the peak resident set size of its process, as
 * the process itself measures it: a preload, given by NODE_OPTIONS, writes `process.resourceUsage().maxRSS`
 * to stderr when the process exits (on success or failure alike). That needs no external tool such as
 * /usr/bin/time, and measures the real process: node, tsx and the job.
 */
import { runProcessor } from './processor';

const MARKER = 'peak-rss-kib:';
const PRELOAD = `import { writeSync } from 'node:fs';
process.on('exit', () => writeSync(2, '\\n${MARKER}' + process.resourceUsage().maxRSS + '\\n'));`;
const NODE_OPTIONS = `--import=data:text/javascript;base64,${Buffer.from(PRELOAD).toString('base64')}`;

export async function runProcessorMeasured(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string; peakRssMiB: number }> {
  const run = await runProcessor(args, { ...env, NODE_OPTIONS });
  const pattern = new RegExp(`\\n${MARKER}(\\d+)\\n`, 'g');
  const peaks = [...run.stderr.matchAll(pattern)].map((match) => Number(match[1]));
  if (peaks.length === 0) throw new Error(`the processor reported no peak RSS:\n${run.stderr}`);
  return { ...run, stderr: run.stderr.replace(pattern, ''), peakRssMiB: Math.max(...peaks) / 1024 };
}
