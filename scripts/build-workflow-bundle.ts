/**
 * `npm run build:workflow-bundle`: prebuilds the workflow bundle into dist/workflow-bundle.js, so a worker
 * started with WORKFLOW_BUNDLE_PATH skips bundling (seconds of CPU at every start, and webpack at runtime).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { runMain } from '../common/run-main';
import { REPO_ROOT } from './tools';

export const WORKFLOW_BUNDLE = join(REPO_ROOT, 'dist', 'workflow-bundle.js');

runMain('build:workflow-bundle', async () => {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    // Tracing's workflow interceptors (common/tracing.ts): a worker adds them itself only when it bundles.
    workflowInterceptorModules: [
      require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
    ],
  });
  mkdirSync(dirname(WORKFLOW_BUNDLE), { recursive: true });
  writeFileSync(WORKFLOW_BUNDLE, code);
  process.stdout.write(`wrote ${WORKFLOW_BUNDLE} (${(code.length / 1024).toFixed(0)} KiB)\n`);
});
