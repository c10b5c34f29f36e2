/** Serves the console on loopback: the process (console/main.ts), `npm run dev` and the browser tests. */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createConsoleApp } from './app';
import type { ConsoleDeps } from './file';

/** Locally the console is for this machine only; on AWS it sits behind an authenticating load balancer. */
const HOST = '127.0.0.1';

export interface RunningConsole {
  url: string;
  close(): Promise<void>;
}

/** Starts the console on `port` (0: a free one) and resolves once it listens. */
export function startConsole(deps: ConsoleDeps, port: number): Promise<RunningConsole> {
  const app = createConsoleApp(deps);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: HOST, port }, (info: AddressInfo) =>
      resolve({
        url: `http://${HOST}:${info.port}`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    );
    server.once('error', reject);
  });
}
