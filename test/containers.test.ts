/**
 * The container files, checked without a Docker engine: the Dockerfiles with hadolint and a Dockerfile
 * parser (stages, users, health checks, and a CMD that names a file `npm run build` really emits from the
 * build context), and docker-compose.yml with Docker Compose's own `config` (and its variables against
 * common/config.ts and what each process requires).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileSystem, IgnoreMode } from 'aws-cdk-lib';
import { Copy, DockerfileParser, Env, type Healthcheck, type Instruction } from 'dockerfile-ast';
import * as ts from 'typescript';
import {
  CONSOLE_HEALTHCHECK,
  HEALTHCHECK_TIMING,
  INGRESS_HEALTHCHECK,
  WORKER_HEALTHCHECK,
} from '../infra/lib/healthchecks';
import { CONTAINER_USER, dockerfileOf, REPO_ROOT, type ImageName } from '../infra/lib/images';
import { environmentProblems, type ProcessName } from '../infra/lib/process-contract';
import { STACK_NAMES } from '../scripts/stack';
import { ensureDockerCompose, ensureHadolint } from '../scripts/tools';
import { SA } from '../contract/workflow';

const IMAGES: Record<ImageName, { entrypoint: string; healthcheck?: string }> = {
  worker: { entrypoint: 'workers/main.ts', healthcheck: WORKER_HEALTHCHECK },
  ingress: { entrypoint: 'ingress/main.ts', healthcheck: INGRESS_HEALTHCHECK },
  processor: { entrypoint: 'processors/main.ts' },
  console: { entrypoint: 'console/main.ts', healthcheck: CONSOLE_HEALTHCHECK },
};
const NAMES = Object.keys(IMAGES) as ImageName[];

interface Stage {
  from: string;
  name: string | null;
  instructions: Instruction[];
}

/** The stages of a Dockerfile, each with its instructions after FROM. */
function stagesOf(image: ImageName): Stage[] {
  const text = readFileSync(join(REPO_ROOT, dockerfileOf(image)), 'utf8');
  const stages: Stage[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const [from, as, name] = instruction.getArguments().map((a) => a.getValue());
      assert.ok(from);
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? (name ?? null) : null, instructions: [] });
    } else {
      const stage = stages.at(-1);
      assert.ok(stage, `${image}: ${instruction.getKeyword()} before FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const last = (stage: Stage, keyword: string) => all(stage, keyword).at(-1);
const args = (i: Instruction | undefined) => i?.getArguments().map((a) => a.getValue()) ?? [];

/** The exec-form (JSON array) argument of CMD, or of HEALTHCHECK … CMD. */
function execForm(i: Instruction): string[] {
  const raw = i.getRawArgumentsContent() ?? '';
  const start = i.getKeyword() === 'HEALTHCHECK' ? raw.indexOf('CMD') + 'CMD'.length : 0;
  const parsed: unknown = JSON.parse(raw.slice(start));
  assert.ok(
    Array.isArray(parsed) && parsed.every((x): x is string => typeof x === 'string'),
    `${raw} is not exec form`,
  );
  return parsed;
}

/** `outDir` and `rootDir` of tsconfig.json, and the files `npm run build` compiles. */
function tsconfig(): { outDir: string; rootDir: string; fileNames: string[] } {
  const path = join(REPO_ROOT, 'tsconfig.json');
  const { config } = ts.readConfigFile(path, (file) => ts.sys.readFile(file)) as { config: unknown };
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, REPO_ROOT);
  const { outDir, rootDir } = parsed.options;
  assert.ok(outDir && rootDir, 'tsconfig.json sets outDir and rootDir');
  return {
    outDir: relative(REPO_ROOT, outDir),
    rootDir: relative(REPO_ROOT, rootDir),
    fileNames: parsed.fileNames,
  };
}

describe('containers: Dockerfiles', () => {
  const scripts = (
    JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;

  it('pass hadolint with no finding at all', () => {
    const hadolint = ensureHadolint();
    const run = spawnSync(hadolint, ['--format', 'json', ...NAMES.map(dockerfileOf)], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(run.stdout || 'null'), [], run.stderr);
    assert.equal(run.status, 0);
  });

  for (const image of NAMES) {
    it(`${image}: builds on Debian Node 24 in two stages and runs as a non-root user with no setuid file`, () => {
      const [build, runtime, ...more] = stagesOf(image);
      assert.ok(build && runtime && more.length === 0, 'a build stage and a runtime stage');
      for (const stage of [build, runtime]) assert.equal(stage.from, 'node:24-bookworm-slim');
      const runs = (stage: Stage) => all(stage, 'RUN').map((i) => i.getArgumentsContent() ?? '');
      assert.ok(runs(build).some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev')));
      assert.ok(runs(build).some((r) => r.includes('npm run build')));
      assert.ok(runs(runtime).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)));
      // Every npm script the build runs exists.
      for (const r of [...runs(build), ...runs(runtime)]) {
        for (const [, script] of r.matchAll(/npm run ([\w:-]+)/g))
          assert.ok(scripts[script!], `npm run ${script}`);
      }
      const user = args(last(runtime, 'USER'))[0] ?? 'root';
      assert.ok(!/^(0|root)(:|$)/.test(user), `runs as ${user}`);
      assert.equal(user, CONTAINER_USER, 'the user the task and job definitions name');
      // After the last install: nothing the user could run to regain privileges.
      assert.ok(
        runs(runtime).some((r) => /find \/ -xdev -type f -perm \/6000 -exec chmod ug-s/.test(r)),
        'the runtime stage clears every setuid and setgid bit',
      );
    });

    it(`${image}: CMD runs the file npm run build emits from ${IMAGES[image].entrypoint}`, () => {
      const [build, runtime] = stagesOf(image) as [Stage, Stage];
      const { outDir, rootDir, fileNames } = tsconfig();
      const workdir = args(last(build, 'WORKDIR'))[0];
      assert.ok(workdir && args(last(runtime, 'WORKDIR'))[0] === workdir, 'one WORKDIR in both stages');
      // The runtime stage takes the whole outDir of the build stage.
      assert.ok(
        all(runtime, 'COPY')
          .filter((c): c is Copy => c instanceof Copy)
          .some((c) => {
            const from = c
              .getFlags()
              .find((f) => f.getName() === 'from')
              ?.getValue();
            const [source, target] = args(c);
            return from === build.name && source === `${workdir}/${outDir}` && target === `./${outDir}`;
          }),
        `COPY --from=${build.name} ${workdir}/${outDir} ./${outDir}`,
      );
      const cmd = execForm(last(runtime, 'CMD')!);
      assert.equal(cmd[0], 'node');
      const emitted = cmd[1]!;
      assert.ok(
        emitted.startsWith(`${outDir}/`) && emitted.endsWith('.js'),
        `${emitted} is under ${outDir}/`,
      );
      // tsc maps rootDir/X.ts to outDir/X.js.
      const source = join(rootDir, emitted.slice(outDir.length + 1).replace(/\.js$/, '.ts'));
      assert.equal(source, IMAGES[image].entrypoint);
      assert.ok(existsSync(join(REPO_ROOT, source)));
      assert.ok(fileNames.includes(resolve(REPO_ROOT, source)), `tsconfig.json compiles ${source}`);
    });

    it(`${image}: health check`, () => {
      const runtime = stagesOf(image)[1]!;
      const healthcheck = last(runtime, 'HEALTHCHECK') as Healthcheck | undefined;
      assert.ok(healthcheck, 'a HEALTHCHECK instruction');
      const expected = IMAGES[image].healthcheck;
      if (!expected) {
        // A run-to-completion job: judged by its exit code.
        assert.equal(healthcheck.getSubcommand()?.getValue(), 'NONE');
        return;
      }
      assert.deepEqual(execForm(healthcheck), ['node', '-e', expected]);
      const flags = Object.fromEntries(healthcheck.getFlags().map((f) => [f.getName(), f.getValue()]));
      assert.deepEqual(flags, {
        interval: `${HEALTHCHECK_TIMING.intervalSeconds}s`,
        timeout: `${HEALTHCHECK_TIMING.timeoutSeconds}s`,
        'start-period': `${HEALTHCHECK_TIMING.startPeriodSeconds}s`,
        retries: String(HEALTHCHECK_TIMING.retries),
      });
    });
  }

  it('worker: loads the workflow bundle its build stage writes', () => {
    const [build, runtime] = stagesOf('worker') as [Stage, Stage];
    assert.ok(
      all(build, 'RUN').some((r) =>
        (r.getArgumentsContent() ?? '').includes('npm run build:workflow-bundle'),
      ),
    );
    const env = all(runtime, 'ENV')
      .filter((e): e is Env => e instanceof Env)
      .flatMap((e) => e.getProperties());
    const bundle = env.find((p) => p.getName() === 'WORKFLOW_BUNDLE_PATH')?.getValue();
    assert.equal(bundle, `${args(last(runtime, 'WORKDIR'))[0]}/${tsconfig().outDir}/workflow-bundle.js`);
  });

  describe('npm run build in the build context (.dockerignore applied)', () => {
    let context: string;
    before(() => {
      context = mkdtempSync(join(tmpdir(), 'docker-context-'));
      const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
      FileSystem.copyDirectory(REPO_ROOT, context, { exclude: ignore, ignoreMode: IgnoreMode.DOCKER });
      // `npm ci` in the image installs the locked packages; the repository's are the same ones.
      symlinkSync(join(REPO_ROOT, 'node_modules'), join(context, 'node_modules'), 'dir');
    });
    after(() => rmSync(context, { recursive: true, force: true }));

    it('leaves out dependencies, tools, data, tests and infra, and emits every image entrypoint', () => {
      for (const left of ['.git', '.tools', '.data', 'dist', 'test', 'infra']) {
        assert.ok(!existsSync(join(context, left)), `${left} is not in the build context`);
      }
      const build = spawnSync('npm', ['run', 'build'], { cwd: context, encoding: 'utf8' });
      assert.equal(build.status, 0, `${build.stdout}${build.stderr}`);
      for (const image of NAMES) {
        const cmd = execForm(last(stagesOf(image)[1]!, 'CMD')!);
        assert.ok(existsSync(join(context, cmd[1]!)), `${image}: ${cmd[1]} was emitted`);
      }
      // COMPUTE_MODE=local in the worker image runs the processor next to the activities.
      assert.ok(existsSync(join(context, 'dist', 'activities', 'local-backend.js')));
      // The console reads its stylesheet and upload script beside its code (console/app.tsx).
      for (const asset of ['console.css', 'upload.js']) {
        assert.ok(existsSync(join(context, 'dist', 'console', asset)), `the console's ${asset} was copied`);
      }
    });
  });
});

describe('containers: docker-compose.yml', () => {
  interface Service {
    image?: string;
    read_only?: boolean;
    cap_drop?: string[];
    security_opt?: string[];
    user?: string;
    init?: boolean;
    build?: { context: string; dockerfile: string };
    command?: string[] | null;
    environment?: Record<string, string | null>;
    healthcheck?: { test: string[] };
    depends_on?: Record<string, { condition: string }>;
  }
  let services: Record<string, Service>;

  before(() => {
    const compose = ensureDockerCompose();
    const run = spawnSync(compose, ['--file', 'docker-compose.yml', 'config', '--format', 'json'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, `docker compose config: ${run.stderr}`);
    services = (JSON.parse(run.stdout) as { services: Record<string, Service> }).services;
  });

  for (const process of ['worker', 'ingress'] as const satisfies ProcessName[]) {
    it(`${process}: built from its Dockerfile, setting only variables it reads and all it requires`, () => {
      const service = services[process];
      assert.ok(service);
      assert.deepEqual(service.build, { context: REPO_ROOT, dockerfile: dockerfileOf(process) });
      assert.deepEqual(environmentProblems(process, service.environment ?? {}), []);
    });
  }

  it('runs the worker and the ingress as the task definitions do: read-only, unprivileged, no capability, an init', () => {
    for (const name of ['worker', 'ingress']) {
      const service = services[name]!;
      assert.equal(service.read_only, true, name);
      assert.deepEqual(service.cap_drop, ['ALL'], name);
      assert.deepEqual(service.security_opt, ['no-new-privileges:true'], name);
      assert.equal(service.user, CONTAINER_USER, name);
      assert.equal(service.init, true, name);
    }
  });

  it('runs the processor inside the worker, against the names the local stack provisions', () => {
    const { worker, ingress } = services as { worker: Service; ingress: Service };
    assert.equal(worker.environment?.COMPUTE_MODE, 'local');
    assert.equal(worker.environment?.OUTPUT_BUCKET, STACK_NAMES.outputBucket);
    assert.match(ingress.environment?.QUEUE_URL ?? '', new RegExp(`/${STACK_NAMES.queue}$`));
    const init = (services.init?.command ?? []).join('\n');
    for (const name of [
      STACK_NAMES.inputBucket,
      STACK_NAMES.outputBucket,
      STACK_NAMES.queue,
      STACK_NAMES.deadLetterQueue,
    ]) {
      assert.ok(init.includes(name), `init provisions ${name}`);
    }
    assert.match(init, new RegExp(`maxReceiveCount\\\\+": ${STACK_NAMES.maxReceiveCount}\\b`));
    assert.match(init, /s3:ObjectCreated:\*/);
  });

  it('starts Temporal with the workflow search attributes and its UI on 8233', () => {
    const command = services.temporal?.command ?? [];
    const type = { KEYWORD: 'Keyword', INT: 'Int', DOUBLE: 'Double' } as Record<string, string>;
    for (const key of Object.values(SA)) {
      assert.ok(
        command.includes(`--search-attribute=${key.name}=${type[key.type]}`),
        `${key.name} (${key.type})`,
      );
    }
    assert.ok(command.includes('--ip=0.0.0.0') && command.includes('--ui-port=8233'));
  });

  it('waits for what each service needs: healthy servers, a finished init', () => {
    const hasHealthcheck = (name: string) => {
      const service = services[name];
      if (service?.healthcheck) return true;
      // A service built from a Dockerfile inherits the image's HEALTHCHECK.
      const image = NAMES.find((n) => service?.build?.dockerfile === dockerfileOf(n));
      return image !== undefined && IMAGES[image].healthcheck !== undefined;
    };
    let conditions = 0;
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        conditions++;
        if (condition === 'service_healthy')
          assert.ok(hasHealthcheck(dependency), `${name} waits for a healthy ${dependency}`);
        else
          assert.equal(
            condition,
            dependency === 'init' ? 'service_completed_successfully' : 'service_healthy',
          );
      }
    }
    assert.ok(conditions >= 5);
    assert.equal(services.worker?.depends_on?.temporal?.condition, 'service_healthy');
    assert.equal(services.worker?.depends_on?.init?.condition, 'service_completed_successfully');
  });
});
