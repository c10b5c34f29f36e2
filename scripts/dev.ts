/**
 * `npm run dev`: the whole local stack in the foreground, on the usual ports (Temporal 7233, UI 8233,
 * moto 5000 or MOTO_PORT, the console 8080 or CONSOLE_PORT, metrics 9464; with `--traces` Zipkin on 9411),
 * until Ctrl-C. `npm run upload` finds it through `.data/stack.json`.
 */
import { startStackConsole } from './stack-console';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadConfig } from '../common/config';
import { DAILY_REPORT_SCHEDULE_ID } from '../contract/schedule';
import { STACK_FILE, startStack, type RunningStack } from './stack';
import { runMain } from '../common/run-main';
import { prettyLogLine } from './pretty-log';
import { Client, Connection } from '@temporalio/client';

async function main(): Promise<void> {
  const { MOTO_PORT, CONSOLE_PORT } = loadConfig('dev', ['MOTO_PORT', 'CONSOLE_PORT']);
  const pretty = prettyLogLine(process.stderr.isTTY);
  const stack = await startStack({
    ports: { temporal: 7233, ui: 8233, moto: MOTO_PORT ?? 5000, metrics: 9464, zipkin: 9411 },
    ui: true,
    traces: process.argv.includes('--traces'),
    log: (line) => process.stderr.write(`${pretty(line)}\n`),
  });
  const client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  const operatorConsole = await startStackConsole(stack, client, {
    port: CONSOLE_PORT,
    temporalUiUrl: stack.uiUrl!,
    upload: { bucket: stack.inputBucket },
  });
  const running: RunningStack = { env: stack.env, inputBucket: stack.inputBucket, uiUrl: stack.uiUrl! };
  mkdirSync(dirname(STACK_FILE), { recursive: true });
  writeFileSync(STACK_FILE, JSON.stringify(running, null, 2));
  process.stdout.write(
    [
      '',
      'Local pipeline running. Ctrl-C stops everything.',
      `  console           ${operatorConsole.url}  (the files, their reports and downloads; upload; the dead letters)`,
      `  Temporal UI       ${stack.uiUrl}`,
      `  metrics           ${stack.metricsUrl}  (Prometheus: the Temporal SDK's and the pipeline's)`,
      stack.tracesUrl
        ? `  traces            ${stack.tracesUrl}  (Zipkin: one trace per file)`
        : '  traces            off (npm run dev -- --traces starts Zipkin)',
      `  Temporal address  ${stack.temporalAddress} (namespace ${stack.namespace}, task queue ${stack.taskQueue})`,
      `  AWS endpoint      ${stack.awsEndpoint} (moto: S3, SQS, DynamoDB, region ${stack.region})`,
      `  input bucket      s3://${stack.inputBucket}`,
      `  output bucket     s3://${stack.outputBucket}`,
      `  DynamoDB table    ${stack.table} (DYNAMODB_TABLE, csv-to-dynamodb's rows)`,
      `  queue             ${stack.queueUrl}`,
      `  dead-letter queue ${stack.deadLetterQueueUrl}`,
      `  daily report      schedule ${DAILY_REPORT_SCHEDULE_ID}: every day at ${stack.reportSchedule!.time} ${stack.reportSchedule!.timeZone}, reports/daily/ for the UTC day before`,
      '',
      'Upload a file:      npm run upload -- FILE [--processor-type pool] [--job NAME]',
      `Batch-routed runs:  temporal workflow list --address ${stack.temporalAddress} --query 'ProcessorType="pool"'`,
      `Schedules:          temporal schedule list --address ${stack.temporalAddress}  (UI: ${stack.uiUrl}/namespaces/${stack.namespace}/schedules)`,
      "A day's report:     npm run report -- --date YYYY-MM-DD   backfill: npm run report -- --from DATE --to DATE",
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });
  process.stdout.write('stopping…\n');
  rmSync(STACK_FILE, { force: true });
  await operatorConsole.close();
  await client.connection.close();
  await stack.stop();
}

runMain('npm run dev', main);
