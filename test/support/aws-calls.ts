/**
 * Where the tests record the AWS calls of the pipeline's processes (`AWS_CALL_LOG_DIR`), which
 * test/proof/permissions.test.ts then evaluates against the IAM roles of infra/. Run as a script (npm's
 * `pretest`), it empties the folder, so that the proof sees the calls of this run only.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/tools';

export const AWS_CALL_LOG_DIR = join(REPO_ROOT, '.data', 'aws-calls');

/** The environment that makes a process of the pipeline record its AWS calls. */
export const recordingCalls = { AWS_CALL_LOG_DIR } as const;

if (require.main === module) rmSync(AWS_CALL_LOG_DIR, { recursive: true, force: true });
