/**
 * The GitHub Actions workflows (.github/workflows/): actionlint finds nothing in them (syntax, expressions,
 * action inputs, and the shell of `run:` scripts when shellcheck is on PATH), and, read as YAML, they hold
 * what keeps the delivery safe: every action pinned to a commit, read-only tokens but in the one job that
 * assumes the AWS role, that job behind the `production` environment, every image scanned before it is pushed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ensureActionlint, ensureTools, REPO_ROOT } from '../scripts/tools';

const DIR = join(REPO_ROOT, '.github', 'workflows');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join('.github', 'workflows', f));
const IMAGES = ['worker', 'ingress', 'processor', 'console'];

type Permissions = Record<string, string> | string | undefined;
interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  uses?: string;
  needs?: string | string[];
  permissions?: Permissions;
  environment?: string | { name: string };
  'timeout-minutes'?: number;
  steps?: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Permissions;
  concurrency?: { group: string; 'cancel-in-progress': boolean | string };
  jobs: Record<string, Job>;
}

interface Finding {
  message: string;
  filepath: string;
  line: number;
  kind: string;
}

/** actionlint's findings in `files` (paths relative to `cwd`), from its JSON output. */
function actionlint(files: string[], cwd = REPO_ROOT): Finding[] {
  const run = spawnSync(ensureActionlint(), ['-format', '{{json .}}', ...files], { cwd, encoding: 'utf8' });
  assert.ok(run.status === 0 || run.status === 1, `actionlint failed to run: ${run.stderr}`);
  return JSON.parse(run.stdout || '[]') as Finding[];
}

/**
 * The workflows as data. PyYAML of the Python that runs moto (its server extra depends on it) reads them;
 * YAML 1.1 reads the key `on` as `true`, GitHub as `on`.
 */
function readWorkflows(): Record<string, Workflow> {
  const script =
    'import json, sys, yaml\n' +
    'def load(p):\n' +
    '    w = yaml.safe_load(open(p))\n' +
    "    return {('on' if k is True else k): v for k, v in w.items()}\n" +
    'print(json.dumps({p: load(p) for p in sys.argv[1:]}))';
  const run = spawnSync(ensureTools().motoPython, ['-c', script, ...FILES], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, Workflow>;
}

/** A third-party action pinned to a full commit, with its version beside it. */
const PINNED = /^uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/;

/** Every `uses:` line of a workflow's text that is not pinned (a local workflow, `./…`, needs no pin). */
function unpinned(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().replace(/^- /, ''))
    .filter((line) => line.startsWith('uses:') && !line.startsWith('uses: ./') && !PINNED.test(line));
}

const writes = (p: Permissions) =>
  p === undefined
    ? []
    : typeof p === 'string'
      ? [p]
      : Object.entries(p).filter(([, v]) => v !== 'read' && v !== 'none');
const stepsOf = (job: Job) => job.steps ?? [];
const usesAction = (job: Job, action: string) => stepsOf(job).some((s) => s.uses?.startsWith(`${action}@`));
const runs = (job: Job) => stepsOf(job).flatMap((s) => (s.run ? [s.run] : []));

describe('workflows: .github/workflows/', () => {
  let workflows: Record<string, Workflow>;
  before(() => {
    workflows = readWorkflows();
  });
  const ci = () => workflows['.github/workflows/ci.yml']!;
  const deliver = () => workflows['.github/workflows/deliver.yml']!;

  it('has the CI and delivery workflows', () => {
    assert.deepEqual([...FILES].sort(), ['.github/workflows/ci.yml', '.github/workflows/deliver.yml']);
  });

  it('has no actionlint finding', () => {
    const findings = actionlint(FILES);
    assert.deepEqual(
      findings.map((f) => `${f.filepath}:${f.line}: ${f.message} [${f.kind}]`),
      [],
    );
  });

  it('is checked by an actionlint that does find a typo in an expression and an unknown input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'workflows-'));
    try {
      writeFileSync(
        join(dir, 'broken.yml'),
        [
          'on: push',
          'jobs:',
          '  x:',
          '    runs-on: ubuntu-latest',
          '    steps:',
          '      - run: echo ${{ github.shaa }}',
          '      - uses: actions/checkout@v4',
          '        with:',
          '          persist-credential: false',
          '',
        ].join('\n'),
      );
      const kinds = actionlint(['broken.yml'], dir).map((f) => f.kind);
      assert.ok(kinds.includes('expression'), `an expression finding in ${kinds.join(', ')}`);
      assert.ok(kinds.includes('action'), `an action finding in ${kinds.join(', ')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pins every third-party action to a full commit SHA, with its version in a comment', () => {
    for (const file of FILES) {
      assert.deepEqual(unpinned(readFileSync(join(REPO_ROOT, file), 'utf8')), [], file);
    }
    assert.deepEqual(unpinned('      - uses: actions/checkout@v4'), ['uses: actions/checkout@v4']);
    // One version of each action everywhere.
    const pins = new Map<string, Set<string>>();
    for (const file of FILES) {
      for (const [, action, sha] of readFileSync(join(REPO_ROOT, file), 'utf8').matchAll(
        /uses: ([^@\s]+)@(\S+)/g,
      )) {
        pins.set(action!, (pins.get(action!) ?? new Set()).add(sha!));
      }
    }
    for (const [action, shas] of pins)
      assert.equal(shas.size, 1, `${action} pinned to ${[...shas].join(', ')}`);
  });

  it('grants the token only read access at the top, writes only id-token in the job assuming the AWS role', () => {
    for (const [file, w] of Object.entries(workflows)) {
      assert.deepEqual(w.permissions, { contents: 'read' }, `${file}: top-level permissions`);
      for (const [name, job] of Object.entries(w.jobs)) {
        const granted = writes(job.permissions);
        if (usesAction(job, 'aws-actions/configure-aws-credentials')) {
          assert.deepEqual(granted, [['id-token', 'write']], `${file} ${name}`);
        } else {
          assert.deepEqual(granted, [], `${file} ${name}: no write permission`);
        }
      }
    }
    const assuming = Object.entries(deliver().jobs).filter(([, j]) =>
      usesAction(j, 'aws-actions/configure-aws-credentials'),
    );
    assert.deepEqual(
      assuming.map(([name]) => name),
      ['deploy'],
    );
    const ciJobs = Object.values(ci().jobs);
    assert.ok(!ciJobs.some((j) => usesAction(j, 'aws-actions/configure-aws-credentials')), 'no AWS in CI');
  });

  it('assumes the role by OIDC (no long-lived key), behind the production environment, after the tests and scans', () => {
    const deploy = deliver().jobs.deploy!;
    assert.equal(deploy.environment, 'production');
    const credentials = stepsOf(deploy).find((s) =>
      s.uses?.startsWith('aws-actions/configure-aws-credentials@'),
    );
    assert.deepEqual(Object.keys(credentials?.with ?? {}).sort(), ['aws-region', 'role-to-assume']);
    assert.equal(credentials?.with?.['role-to-assume'], '${{ vars.AWS_DEPLOY_ROLE_ARN }}');
    for (const file of FILES) {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8');
      assert.doesNotMatch(text, /aws-access-key-id|aws-secret-access-key|secrets\.AWS/i, file);
    }
    assert.equal(deploy.needs, 'images');
    assert.equal(deliver().jobs.images!.needs, 'test');
    assert.equal(deliver().jobs.test!.uses, './.github/workflows/ci.yml');
    assert.deepEqual(Object.keys(deliver().on), ['push']);
    assert.deepEqual(deliver().on.push, { branches: ['main'] });
    assert.equal(
      deliver().concurrency?.['cancel-in-progress'],
      false,
      'a deploy is never cancelled half-way',
    );
    const commands = runs(deploy).join('\n');
    assert.match(
      commands,
      /npm run cdk -- deploy --require-approval never -c "imageTag=\$TAG" -c "imageRepositoryPrefix=\$PREFIX"/,
    );
  });

  it('builds the four images for linux/amd64, tagged with the commit, and scans each before pushing it', () => {
    const { images, deploy } = deliver().jobs;
    const env = (deliver().jobs.deploy as { env?: Record<string, string> }).env;
    assert.equal(env?.TAG, '${{ github.sha }}');
    for (const dockerfile of IMAGES.map((n) => `docker/${n}.Dockerfile`))
      readFileSync(join(REPO_ROOT, dockerfile));
    for (const job of [images!, deploy!]) {
      assert.match(
        runs(job).join('\n'),
        /docker buildx build --platform linux\/amd64 --load -f "docker\/\$(IMAGE|image)\.Dockerfile" -t "\$(IMAGE|image):\$TAG" \./,
      );
      for (const scan of stepsOf(job).filter((s) => s.uses?.startsWith('aquasecurity/trivy-action@'))) {
        assert.deepEqual(
          { ...scan.with, 'image-ref': undefined },
          { 'image-ref': undefined, severity: 'CRITICAL,HIGH', 'ignore-unfixed': true, 'exit-code': '1' },
        );
      }
    }
    const steps = stepsOf(deploy!);
    const scanned = steps.filter((s) => s.uses?.startsWith('aquasecurity/trivy-action@'));
    assert.deepEqual(
      scanned.map((s) => s.with?.['image-ref']),
      IMAGES.map((n) => `${n}:\${{ github.sha }}`),
    );
    const push = steps.findIndex((s) => s.run?.includes('docker push'));
    assert.ok(push > steps.indexOf(scanned.at(-1)!), 'pushed after every scan');
    assert.ok(
      steps.findIndex((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@')) >
        steps.indexOf(scanned.at(-1)!),
      'no credentials while building and scanning',
    );
  });

  it('tests pull requests as the README does on a fresh machine, cancelling superseded runs, with a timeout', () => {
    const w = ci();
    assert.deepEqual(Object.keys(w.on).sort(), ['pull_request', 'workflow_call']);
    assert.equal(w.concurrency?.['cancel-in-progress'], "${{ github.event_name == 'pull_request' }}");
    const test = w.jobs.test!;
    const commands = runs(test);
    const order = ['npm ci --no-audit --no-fund', 'npm run tools', 'npm run lint', 'npm test'].map((c) =>
      commands.indexOf(c),
    );
    assert.ok(
      order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)),
      `in order: ${commands.join(' | ')}`,
    );
    assert.match(commands[0]!, /apt-get install [\s\S]*\bchromium\b/);
    for (const [file, wf] of Object.entries(workflows)) {
      for (const [name, job] of Object.entries(wf.jobs)) {
        if (!job.uses) assert.ok(job['timeout-minutes'], `${file} ${name}: timeout-minutes`);
      }
    }
  });
});
