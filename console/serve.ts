/** Serves the console: the process (console/main.ts), `npm run dev` and the browser tests. */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createConsoleApp } from './app';
import type { ConsoleDeps } from './file';

export interface RunningConsole {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the console on `port` (0: a free one) and resolves once it listens. Locally it is for this machine
 * only (`host` loopback, the default); on AWS it listens in its container behind an authenticating load balancer.
 */
export function startConsole(
  deps: ConsoleDeps,
  { port, host = '127.0.0.1' }: { port: number; host?: string },
): Promise<RunningConsole> {
  const app = createConsoleApp(deps);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) =>
      resolve({
        url: `http://${host}:${info.port}`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    );
    server.once('error', reject);
  });
}
