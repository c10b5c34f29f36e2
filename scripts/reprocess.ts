/**
 * `npm run reprocess -- (--prefix P | --date YYYY-MM-DD) [--bucket B] [--force] [--concurrency N] [--no-wait]`:
 * starts a `reprocess` workflow over the latest object versions under the prefix (or the date's prefix, by
 * REPROCESS_DATE_LAYOUT), prints its ID, then follows its progress query until it ends and prints the counts.
 * Versions already processed successfully, or being processed, are skipped; `--force` reruns every one.
 *
 * Connects like the worker (TEMPORAL_ADDRESS, TEMPORAL_PROFILE, …), or to the stack of `npm run dev` when
 * neither is set and that stack is running; the bucket is then its input bucket, else the first of
 * INPUT_BUCKETS.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ActivityFailure } from '@temporalio/common';
import { loadConfig } from '../common/config';
import { ExplainedError } from '../contract/failures';
import { runMain } from '../common/run-main';
import {
  datePrefix,
  reprocessProgressQuery,
  reprocessWorkflowId,
  type ReprocessInput,
  type ReprocessProgress,
} from '../contract/reprocess';
import { SA } from '../contract/workflow';
import { reprocess } from '../workflows';
import { pipelineClient, runningStack } from './pipeline-client';

const USAGE =
  'usage: npm run reprocess -- (--prefix PREFIX | --date YYYY-MM-DD) [--bucket BUCKET] [--force] [--concurrency N] [--no-wait]';

/** Starts a reprocess run of `input` on `taskQueue` under a new ID. */
export async function startReprocess(
  client: Client,
  taskQueue: string,
  input: ReprocessInput,
): Promise<WorkflowHandle<typeof reprocess>> {
  return client.workflow.start(reprocess, {
    workflowId: reprocessWorkflowId(input.bucket, input.prefix, new Date(), input.force),
    taskQueue,
    args: [input],
    typedSearchAttributes: [
      { key: SA.bucket, value: input.bucket },
      { key: SA.stage, value: 'listing' },
    ],
  });
}

/** One line of counts, as the CLI prints them. */
export function countsLine(p: ReprocessProgress): string {
  return (
    `${p.listed} listed${p.listingDone ? '' : ' so far'}, ${p.started} started, ${p.skipped} skipped ` +
    `(already processed or running), ${p.succeeded} succeeded, ${p.failed} failed, ${p.inFlight} in flight`
  );
}

/**
 * Prints the progress query's counts as they change until the run ends (across its continue-as-new runs), and
 * returns the last ones.
 */
export async function followReprocess(
  handle: WorkflowHandle<typeof reprocess>,
  write: (line: string) => void,
): Promise<ReprocessProgress> {
  let ended = false;
  const result = handle.result().finally(() => (ended = true));
  result.catch(() => {});
  let last = '';
  while (!ended) {
    // A run that just continued as new has no worker state yet: the next poll answers.
    const progress = await handle.query(reprocessProgressQuery).catch(() => undefined);
    const line = progress ? `${progress.stage}: ${countsLine(progress)}` : last;
    if (line !== last) write((last = line));
    await Promise.race([result.catch(() => {}), sleep(1000)]);
  }
  try {
    return await result;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const progress = await handle.query(reprocessProgressQuery);
    if (!progress.cancelled) {
      // The activity's failure says what went wrong (a missing bucket), not its wrapper nor the AWS error under it.
      const cause = err.cause instanceof ActivityFailure ? (err.cause.cause ?? err.cause) : err.cause;
      throw new ExplainedError(`${handle.workflowId} failed: ${cause?.message ?? err.message}`);
    }
    return progress;
  }
}

/** The run's input from the command line; bad arguments name the fix. */
function inputOf(
  args: string[],
  bucketOf: () => string,
  dateLayout: () => string,
): ReprocessInput & { wait: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      prefix: { type: 'string' },
      date: { type: 'string' },
      bucket: { type: 'string' },
      force: { type: 'boolean' },
      concurrency: { type: 'string' },
      'no-wait': { type: 'boolean' },
    },
  });
  if (positionals.length > 0) throw new ExplainedError(`unexpected ${positionals.join(' ')}\n${USAGE}`);
  if ((values.prefix === undefined) === (values.date === undefined))
    throw new ExplainedError(`give either --prefix or --date, not both nor neither\n${USAGE}`);
  let prefix = values.prefix;
  if (values.date !== undefined) {
    try {
      prefix = datePrefix(dateLayout(), values.date);
    } catch (err) {
      throw new ExplainedError((err as Error).message);
    }
  }
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (
    concurrency !== undefined &&
    !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 1000)
  )
    throw new ExplainedError(
      `--concurrency ${values.concurrency}: give a whole number of runs from 1 to 1000, e.g. --concurrency 10`,
    );
  return {
    bucket: values.bucket ?? bucketOf(),
    prefix: prefix!,
    ...(values.force ? { force: true } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    wait: !values['no-wait'],
  };
}

/** Exits 1 when a run failed or the reprocess was cancelled, so that a scheduler sees it. */
/** The first of INPUT_BUCKETS, the bucket when neither --bucket nor a running `npm run dev` names one. */
function firstInputBucket(): string {
  try {
    return loadConfig('reprocess', ['INPUT_BUCKETS']).INPUT_BUCKETS[0]!;
  } catch (err) {
    throw new ExplainedError(`${(err as Error).message}\nOr name the bucket: --bucket BUCKET.`);
  }
}

async function main(): Promise<number> {
  const stack = runningStack();
  const { wait, ...input } = inputOf(
    process.argv.slice(2),
    () => stack?.inputBucket ?? firstInputBucket(),
    () => loadConfig('reprocess', ['REPROCESS_DATE_LAYOUT']).REPROCESS_DATE_LAYOUT,
  );
  const { client, connection, config, namespace } = await pipelineClient('reprocess');
  try {
    const handle = await startReprocess(client, config.TEMPORAL_TASK_QUEUE, input);
    const write = (line: string) => process.stdout.write(`${line}\n`);
    write(
      `reprocessing s3://${input.bucket}/${input.prefix}${input.force ? ' (--force: every object)' : ''}`,
    );
    write(`workflow: ${handle.workflowId}`);
    if (stack)
      write(`  ${stack.uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(handle.workflowId)}`);
    if (!wait) return 0;
    const final = await followReprocess(handle, write);
    write(`${final.cancelled ? 'cancelled' : 'done'}: ${countsLine(final)}`);
    return final.failed > 0 || final.cancelled ? 1 : 0;
  } finally {
    await connection.close();
  }
}

if (require.main === module) runMain('reprocess', main);
