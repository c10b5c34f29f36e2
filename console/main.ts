/** The console process (`npm run console`): configuration from the environment, then serve until SIGTERM/SIGINT. */
import { Client, Connection } from '@temporalio/client';
import { createAwsClients } from '../common/aws';
import { CONSOLE_VARIABLES, loadConfig } from '../common/config';
import { createLogger } from '../common/log';
import { runMain } from '../common/run-main';
import { temporalConnection, temporalUnreachable } from '../common/temporal';
import { deadLetterQueuesOf } from './dead-letters';
import { startConsole } from './serve';

async function main(): Promise<void> {
  const config = loadConfig('console', CONSOLE_VARIABLES);
  const log = createLogger('console', config.LOG_LEVEL);
  const { connectionOptions, namespace } = temporalConnection();
  const connection = await Connection.connect(connectionOptions).catch((err: Error) => {
    throw temporalUnreachable(connectionOptions.address, err);
  });
  const client = new Client({ connection, namespace });
  const { s3, sqs } = createAwsClients(config, 'console');
  // The dead letters the console shows are where SQS itself moves them, as the ingress finds them.
  const queues = await deadLetterQueuesOf(sqs, config.QUEUE_URL);
  const running = await startConsole(
    {
      client,
      s3,
      ...queues,
      ...(config.TEMPORAL_UI_URL ? { temporalUiUrl: config.TEMPORAL_UI_URL } : {}),
      // Uploads go to the first input bucket.
      upload: { bucket: config.INPUT_BUCKETS[0]!, maxBytes: config.CONSOLE_UPLOAD_MAX_BYTES },
      ...(config.CONSOLE_ORIGIN ? { origin: config.CONSOLE_ORIGIN } : {}),
    },
    { port: config.CONSOLE_PORT, host: config.CONSOLE_HOST },
  );
  log.info(`console on ${running.url}`);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  await running.close();
  await connection.close();
  s3.destroy();
  sqs.destroy();
}

runMain('console', main);
