/**
 * Pipeline benchmark: one large CSV file through the whole local pipeline (moto, Temporal dev server, the
 * worker and ingress processes, the processor as local processes), in chunks. Not a test: run it by hand with
 * `npm run bench:pipeline [-- --size-mb N] [--seed N]` (default 1024 MB). See bench/README.md.
 *
 * Prints the wall time from upload to the workflow's completion, the chunks, the worker's peak RSS (VmHWM of
 * the worker process, which plans, merges and orchestrates; the chunks run in processes of their own), and
 * checks the row counts of the report against the Python peer's. Writes bench/results/pipeline.json; last line:
 *   pipeline_wall_s=S chunks=N worker_peak_rss_mb=M
 */
import { readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { reportKeyFor } from '../contract/layout';
import { awaitWorkflow, uploadFile } from '../scripts/pipeline-client';
import { startStack } from '../scripts/stack';
import { exec, inputFile, parseArgs, PEERS, ROOT, workFolder, writeResults } from './data';

/** Peak resident set of a live process, from /proc (Linux). */
function peakRssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : undefined;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), 'bench:pipeline');
  const input = await inputFile(args);
  const bytes = statSync(input).size;
  const stack = await startStack({ queueVisibilityTimeoutSeconds: 60 });
  const work = workFolder();
  try {
    const client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
    const started = Date.now();
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'bench/transactions.csv', input, {
      job: 'csv-validate',
    });
    const outcome = await awaitWorkflow(client, ref, 3 * 60 * 60 * 1000);
    const wallSeconds = (Date.now() - started) / 1000;
    if (outcome.status !== 'completed')
      throw new Error(`the workflow did not complete: ${JSON.stringify(outcome)}`);
    const workerRss = peakRssMb(stack.workerPid());
    const { result } = outcome;
    const res = await stack.aws.s3.send(
      new GetObjectCommand({ Bucket: stack.outputBucket, Key: reportKeyFor(ref.key, result.processedAt!) }),
    );
    const report = JSON.parse(await res.Body!.transformToString()) as {
      rows: { in: number; out: number; rejected: number };
      chunks: { total: number; list: { seconds?: number }[] };
    };
    const peer = await exec('python3', [
      path.join(PEERS, 'peer_python_csv.py'),
      'validate',
      input,
      path.join(work, 'peer.csv'),
      path.join(work, 'peer.rejects.csv'),
    ]);
    const expected = `rows_in=${report.rows.in} rows_out=${report.rows.out} rows_rejected=${report.rows.rejected}`;
    const agree = peer.includes(expected);
    const chunkSeconds = report.chunks.list.map((c) => c.seconds ?? 0);
    const summary = {
      date: new Date().toISOString(),
      file: { path: path.relative(ROOT, input), ...args, bytes },
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? null, node: process.version },
      job: 'csv-validate',
      wallSeconds: Number(wallSeconds.toFixed(1)),
      workflowSeconds: Number(outcome.seconds.toFixed(1)),
      megabytesPerSecond: Math.round(bytes / 1e6 / wallSeconds),
      chunks: report.chunks.total,
      slowestChunkSeconds: Number(Math.max(...chunkSeconds).toFixed(1)),
      workerPeakRssMb: workerRss ?? null,
      rows: report.rows,
      countsAgreeWithPython: agree,
    };
    console.log(JSON.stringify(summary, null, 2));
    await writeResults('pipeline', summary);
    await client.connection.close();
    if (!agree) throw new Error(`the report says ${expected}; the Python peer says ${peer.trim()}`);
    console.log(
      `pipeline_wall_s=${summary.wallSeconds} chunks=${summary.chunks} worker_peak_rss_mb=${summary.workerPeakRssMb}`,
    );
  } finally {
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:pipeline failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
