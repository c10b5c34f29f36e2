/**
 * The whole local stack for an end-to-end test file: the stack (its processes recording their AWS calls for
 * the permission proof), a Temporal client, a scratch folder, and the ingress's log lines as it wrote them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startStack, type Stack, type StackOptions } from '../../scripts/stack';
import { recordingCalls } from './aws-calls';

export interface EndToEnd {
  stack: Stack;
  client: Client;
  /** A scratch folder, removed by {@link EndToEnd.stop}. */
  dir: string;
  /** Every line the ingress process wrote, prefixed `ingress |`. */
  ingressLog: string[];
  stop(): Promise<void>;
}

/** Starts the stack with `options` (its `env` added to the recording of AWS calls); `name` names the scratch folder. */
export async function startEndToEnd(
  name: string,
  options: Omit<StackOptions, 'log'> = {},
): Promise<EndToEnd> {
  const ingressLog: string[] = [];
  const stack = await startStack({
    ...options,
    env: { ...recordingCalls, ...options.env },
    log: (line) => {
      if (line.startsWith('ingress |')) ingressLog.push(line);
    },
  });
  const client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  return {
    stack,
    client,
    dir,
    ingressLog,
    async stop() {
      await client.connection.close();
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
