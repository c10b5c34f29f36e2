/**
 * The Temporal connection, configured as Temporal's own tools are (`@temporalio/envconfig`, shared with the
 * `temporal` CLI): the `TEMPORAL_*` environment variables over the selected profile of `temporal.toml`
 * (`TEMPORAL_PROFILE`, default `default`; `TEMPORAL_CONFIG_FILE`, default
 * `~/.config/temporalio/temporal.toml`), over the defaults `localhost:7233` and namespace `default`.
 * Plain, TLS, mTLS, API key (Temporal Cloud) and gRPC metadata all come from there.
 */
import { existsSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { TLSConfig } from '@temporalio/client';
import {
  loadClientConfig,
  loadClientConfigProfile,
  toClientOptions,
  type ClientConfigProfile,
} from '@temporalio/envconfig';
import { ConfigError } from './config';
import { ExplainedError } from '../contract/failures';

export const DEFAULT_TEMPORAL_ADDRESS = 'localhost:7233';
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';

/** Options accepted by both `Connection.connect` (client) and `NativeConnection.connect` (worker). */
export interface TemporalConnectionOptions {
  address: string;
  apiKey?: string;
  tls?: TLSConfig | boolean;
  metadata?: Record<string, string>;
}

/** Where to connect and in which namespace. */
export interface TemporalConnection {
  connectionOptions: TemporalConnectionOptions;
  namespace: string;
}

/** The variables of envconfig whose values are file paths. */
const PATH_VARIABLES = [
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
] as const;

/** Whether a variable is one of envconfig's connection settings (what the local stack must not inherit). */
export function isTemporalConnectionVariable(name: string): boolean {
  return (
    /^TEMPORAL_(ADDRESS|NAMESPACE|API_KEY|PROFILE|CONFIG_FILE|TLS)$/.test(name) ||
    /^TEMPORAL_(TLS|GRPC_META|CODEC)_/.test(name)
  );
}

/** `env` without envconfig's connection settings: for a process that must connect with its own only. */
export function withoutTemporalConnection(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !isTemporalConnectionVariable(name)));
}

/** The file envconfig reads: TEMPORAL_CONFIG_FILE, else the user's config directory, as envconfig finds it. */
export function temporalConfigFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  const home = env.HOME || homedir();
  if (platform() === 'win32') return env.APPDATA && join(env.APPDATA, 'temporalio', 'temporal.toml');
  if (platform() === 'darwin')
    return join(home, 'Library', 'Application Support', 'temporalio', 'temporal.toml');
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && !isAbsolute(xdg)) return undefined;
  return join(xdg || join(home, '.config'), 'temporalio', 'temporal.toml');
}

/** The variables as envconfig reads them: an empty one is unset, as in {@link loadConfig}, but for gRPC metadata. */
function envconfigVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (e): e is [string, string] =>
        e[1] !== undefined && (e[1] !== '' || e[0].startsWith('TEMPORAL_GRPC_META_')),
    ),
  );
}

/** The names of the profiles of a file, for an error message. */
function profileNames(vars: Record<string, string>): string {
  try {
    const names = Object.keys(loadClientConfig({ overrideEnvVars: vars }).profiles);
    return names.length ? `its profiles: ${names.join(', ')}` : 'it has no profile';
  } catch {
    return 'it cannot be read';
  }
}

/** A problem of the configuration file or profile, as a ConfigError naming the file and the fix. */
function profileProblem(err: Error, vars: Record<string, string>, file: string | undefined): ConfigError {
  const where = vars.TEMPORAL_CONFIG_FILE ? `TEMPORAL_CONFIG_FILE=${file}` : (file ?? 'temporal.toml');
  const missing = /^Profile '(.*)' not found/.exec(err.message);
  if (missing) {
    const name = missing[1]!;
    const found = file && existsSync(file) ? profileNames(vars) : 'no such file';
    return new ConfigError(
      `TEMPORAL_PROFILE=${name}: no [profile.${name}] in ${where} (${found}). Add the profile to that file ` +
        `(temporal config set --profile ${name} --prop address --value HOST:PORT), point TEMPORAL_CONFIG_FILE ` +
        'at the file that has it, or choose another TEMPORAL_PROFILE.',
      { cause: err },
    );
  }
  // smol-toml's message goes on with a picture of the line; its position says the same in a few words.
  const { line, column } = err as Error & { line?: number; column?: number };
  // envconfig 1.24 fails on a file without any [profile.*] table (an empty file) with a TypeError.
  const problem =
    err instanceof TypeError
      ? 'it has no [profile.NAME] table'
      : `${err.message.split('\n')[0]}${line ? ` at line ${line}, column ${column}` : ''}`;
  return new ConfigError(
    `${where}: cannot read it as Temporal's client configuration (${problem}). Fix the file (TOML, ` +
      '[profile.NAME] tables of address, namespace, api_key, [profile.NAME.tls]), or point TEMPORAL_CONFIG_FILE elsewhere.',
    { cause: err },
  );
}

/** A certificate or key that cannot be read, as a ConfigError naming the variable (or profile key) set to it. */
function fileProblem(
  err: Error & { path?: string },
  vars: Record<string, string>,
  file: string | undefined,
  tls: ClientConfigProfile['tls'],
): ConfigError {
  const variable = PATH_VARIABLES.find((name) => vars[name] === err.path);
  const sources = {
    clientCert: 'client_cert_path',
    clientKey: 'client_key_path',
    serverCACert: 'server_ca_cert_path',
  };
  const key = Object.entries(sources).find(([field]) => {
    const source = tls?.[field as keyof typeof sources];
    return source && 'path' in source && source.path === err.path;
  })?.[1];
  const setting =
    variable ??
    `tls.${key ?? '*_path'} of profile ${vars.TEMPORAL_PROFILE ?? 'default'} in ${file ?? 'temporal.toml'}`;
  return new ConfigError(
    `${setting}: cannot read ${err.path ?? 'the file'} (${err.message}). Point it at a PEM file.`,
    { cause: err },
  );
}

/** The profile's client certificate and key go together: one without the other is a mistake, not plain TLS. */
function checkCertPair(profile: ClientConfigProfile): void {
  if (Boolean(profile.tls?.clientCert) === Boolean(profile.tls?.clientKey)) return;
  throw new ConfigError(
    'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (tls.client_cert_path and ' +
      'tls.client_key_path of a profile) go together: set both for mTLS, or neither.',
  );
}

/**
 * The connection options and namespace from the environment over the selected `temporal.toml` profile.
 * @throws ConfigError naming the file, profile or variable at fault, and the fix.
 */
export function temporalConnection(env: NodeJS.ProcessEnv = process.env): TemporalConnection {
  const vars = envconfigVariables(env);
  const file = temporalConfigFile(vars);
  if (vars.TEMPORAL_CONFIG_FILE && !existsSync(vars.TEMPORAL_CONFIG_FILE)) {
    throw new ConfigError(
      `TEMPORAL_CONFIG_FILE: no file at ${vars.TEMPORAL_CONFIG_FILE}. Point it at a temporal.toml, or unset it.`,
    );
  }
  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: vars });
  } catch (err) {
    throw profileProblem(err as Error, vars, file);
  }
  checkCertPair(profile);
  let connect: ReturnType<typeof toClientOptions>;
  try {
    connect = toClientOptions(profile);
  } catch (err) {
    throw fileProblem(err as Error, vars, file, profile.tls);
  }
  const { address, apiKey, tls } = connect.connectionOptions;
  const metadata = profile.grpcMeta; // what envconfig passes as the connection's metadata, as strings
  return {
    connectionOptions: {
      address: address ?? DEFAULT_TEMPORAL_ADDRESS,
      ...(apiKey !== undefined ? { apiKey } : {}),
      ...(tls !== undefined && tls !== null ? { tls } : {}),
      ...(metadata && Object.keys(metadata).length ? { metadata } : {}),
    },
    namespace: connect.namespace ?? DEFAULT_TEMPORAL_NAMESPACE,
  };
}

/** The error of a process that cannot reach Temporal at start-up, saying what to do. */
export function temporalUnreachable(address: string, cause: Error): ExplainedError {
  return new ExplainedError(
    `cannot reach Temporal at ${address} (${cause.message}). Start it (npm run dev), or set TEMPORAL_ADDRESS ` +
      'or choose a temporal.toml profile with TEMPORAL_PROFILE.',
    { cause },
  );
}
