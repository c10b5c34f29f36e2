/**
 * The CloudFormation scanners test/infra.test.ts runs on the synthesized template, as a deployment pipeline
 * would: cfn-lint and checkov, both installed, pinned, by scripts/tools.ts. Each reads the template from a
 * temporary file and answers with what a test asserts on.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCfnLint, ensureCheckov } from '../../scripts/tools';

/** Runs `scan` on `template` written to a temporary file. */
function onTemplateFile<T>(template: unknown, scan: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'template-'));
  try {
    const file = join(dir, 'FilePipeline.template.json');
    writeFileSync(file, JSON.stringify(template, null, 1));
    return scan(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** cfn-lint's errors (`RULE: message`), and whether its exit status says no more than warnings. */
export function cfnLint(template: unknown): { errors: string[]; statusOk: boolean; stderr: string } {
  const cfnLint = ensureCfnLint();
  return onTemplateFile(template, (file) => {
    const run = spawnSync(cfnLint, ['--format', 'json', file], { encoding: 'utf8' });
    const findings = JSON.parse(run.stdout || '[]') as {
      Level: string;
      Rule: { Id: string };
      Message: string;
    }[];
    return {
      errors: findings.filter((f) => f.Level === 'Error').map((f) => `${f.Rule.Id}: ${f.Message}`),
      // cfn-lint's exit status is a bit mask: 2 means errors (4 warnings and 8 informational are allowed).
      statusOk: ((run.status ?? 1) & ~(4 | 8)) === 0,
      stderr: run.stderr,
    };
  });
}

export interface CheckovReport {
  summary: { passed: number; failed: number; parsing_errors: number };
  results: {
    failed_checks: { check_id: string; resource: string; check_name: string }[];
    skipped_checks: { check_id: string; resource: string; check_result: { suppress_comment?: string } }[];
  };
}

/** checkov's CloudFormation report. */
export function checkov(template: unknown): CheckovReport {
  const checkov = ensureCheckov();
  return onTemplateFile(template, (file) => {
    // --skip-download: no call to the vendor's platform (the checks are in the package).
    const run = spawnSync(
      checkov,
      ['-f', file, '--framework', 'cloudformation', '--skip-download', '-o', 'json'],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    return JSON.parse(run.stdout) as CheckovReport;
  });
}
