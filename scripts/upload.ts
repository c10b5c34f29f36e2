/**
 * `npm run upload -- FILE [--key KEY] [--processor-type pool] [--job NAME] [--meta NAME=VALUE ...]`: uploads to
 * the stack of `npm run dev`; `--meta chunk-size=8MiB` sets `x-amz-meta-chunk-size`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { createAwsClients } from '../common/aws';
import { workflowIdFor } from '../common/ids';
import { uploadFile } from './pipeline-client';
import { STACK_FILE, type RunningStack } from './stack';
import { runMain } from '../common/run-main';

const USAGE =
  'usage: npm run upload -- FILE [--key KEY] [--processor-type pool] [--job NAME] [--meta NAME=VALUE ...]';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      key: { type: 'string' },
      'processor-type': { type: 'string' },
      job: { type: 'string' },
      meta: { type: 'string', multiple: true },
    },
  });
  const metadata: Record<string, string> = {};
  for (const pair of values.meta ?? []) {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--meta ${pair}: expected NAME=VALUE, e.g. --meta chunk-size=8MiB\n${USAGE}`);
    metadata[pair.slice(0, at).toLowerCase()] = pair.slice(at + 1);
  }
  const [file] = positionals;
  if (!file || positionals.length > 1) throw new Error(USAGE);
  if (!existsSync(file)) throw new Error(`${file} does not exist`);
  if (!existsSync(STACK_FILE))
    throw new Error('no local stack is running: start it with npm run dev in another terminal');
  const stack = JSON.parse(readFileSync(STACK_FILE, 'utf8')) as RunningStack;
  const { env } = stack;
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
  });
  const { s3 } = createAwsClients({ AWS_REGION: env.AWS_REGION!, AWS_ENDPOINT_URL: env.AWS_ENDPOINT_URL });
  const key = values.key ?? basename(file);
  const ref = await uploadFile(s3, stack.inputBucket, key, file, {
    ...(values['processor-type'] ? { processorType: values['processor-type'] } : {}),
    ...(values.job ? { job: values.job } : {}),
    metadata,
  });
  const workflowId = workflowIdFor(ref);
  process.stdout.write(
    `uploaded s3://${ref.bucket}/${ref.key} (${ref.size} bytes)\n` +
      `workflow: ${workflowId}\n` +
      `  ${stack.uiUrl}/namespaces/${env.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(workflowId)}\n`,
  );
}

runMain('upload', main);
