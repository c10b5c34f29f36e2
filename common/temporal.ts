/** Temporal connection options from the parsed configuration: plain, TLS, mTLS or API key (Temporal Cloud). */
import { readFileSync } from 'node:fs';
import { ConfigError } from './config';
import { ExplainedError } from '../contract/failures';

export interface TemporalSettings {
  TEMPORAL_ADDRESS: string;
  TEMPORAL_API_KEY?: string | undefined;
  TEMPORAL_TLS: boolean;
  TEMPORAL_TLS_CERT_PATH?: string | undefined;
  TEMPORAL_TLS_KEY_PATH?: string | undefined;
  TEMPORAL_TLS_CA_PATH?: string | undefined;
}

export interface TemporalConnectionOptions {
  address: string;
  apiKey?: string;
  tls?: {
    clientCertPair?: { crt: Buffer; key: Buffer };
    serverRootCACertificate?: Buffer;
  };
}

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(
      `${variable}: cannot read ${path} (${(err as Error).message}). Point it at a PEM file.`,
      {
        cause: err,
      },
    );
  }
}

/** Options accepted by both `Connection.connect` (client) and `NativeConnection.connect` (worker). */
export function temporalConnectionOptions(s: TemporalSettings): TemporalConnectionOptions {
  if (Boolean(s.TEMPORAL_TLS_CERT_PATH) !== Boolean(s.TEMPORAL_TLS_KEY_PATH)) {
    throw new ConfigError(
      'TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH go together: set both for mTLS, or neither.',
    );
  }
  const mtls = s.TEMPORAL_TLS_CERT_PATH && s.TEMPORAL_TLS_KEY_PATH;
  const useTls =
    s.TEMPORAL_TLS || Boolean(s.TEMPORAL_API_KEY) || Boolean(mtls) || Boolean(s.TEMPORAL_TLS_CA_PATH);
  return {
    address: s.TEMPORAL_ADDRESS,
    ...(s.TEMPORAL_API_KEY ? { apiKey: s.TEMPORAL_API_KEY } : {}),
    ...(useTls
      ? {
          tls: {
            ...(mtls
              ? {
                  clientCertPair: {
                    crt: readPem('TEMPORAL_TLS_CERT_PATH', s.TEMPORAL_TLS_CERT_PATH!),
                    key: readPem('TEMPORAL_TLS_KEY_PATH', s.TEMPORAL_TLS_KEY_PATH!),
                  },
                }
              : {}),
            ...(s.TEMPORAL_TLS_CA_PATH
              ? { serverRootCACertificate: readPem('TEMPORAL_TLS_CA_PATH', s.TEMPORAL_TLS_CA_PATH) }
              : {}),
          },
        }
      : {}),
  };
}

/** The error of a process that cannot reach Temporal at start-up, saying what to do. */
export function temporalUnreachable(address: string, cause: Error): ExplainedError {
  return new ExplainedError(
    `cannot reach Temporal at ${address} (${cause.message}). Start it (npm run dev) or set TEMPORAL_ADDRESS.`,
    { cause },
  );
}
