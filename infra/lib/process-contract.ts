/**
 * What each long-running process reads from its environment: the variable list its main.ts passes to
 * `loadConfig`, exported by common/config.ts. The tests of the deployment files (test/infra.test.ts,
 * test/containers.test.ts) check against it that every variable they set is one the process reads and that
 * none it requires is missing.
 */
import {
  AWS_MODE_VARIABLES,
  CONSOLE_VARIABLES,
  ENV,
  INGRESS_VARIABLES,
  WORKER_VARIABLES,
  type EnvName,
} from '../../common/config';

export type ProcessName = 'worker' | 'ingress' | 'console';

const VARIABLES: Record<ProcessName, readonly EnvName[]> = {
  worker: WORKER_VARIABLES,
  ingress: INGRESS_VARIABLES,
  console: CONSOLE_VARIABLES,
};

/** The variables `process` loads, in the order its main.ts lists them. */
export function variablesRead(process: ProcessName): EnvName[] {
  return [...VARIABLES[process]];
}

/** The variables among `names` that have neither a default nor are optional: a process fails without them. */
export function requiredVariables(names: readonly EnvName[]): EnvName[] {
  return names.filter((name) => !ENV[name].safeParse(undefined).success);
}

/**
 * What is wrong with an environment set on `process` (names, and the value where it is a plain string): a
 * variable it does not read, one it requires left out, and with `COMPUTE_MODE=aws` one of the variables the
 * worker checks at start-up (`checkComputeMode`) left out. Empty when the process can start with it.
 */
export function environmentProblems(process: ProcessName, environment: Record<string, unknown>): string[] {
  const read = new Set<string>(variablesRead(process));
  const set = Object.keys(environment);
  const required = [
    ...requiredVariables(variablesRead(process)),
    ...(environment.COMPUTE_MODE === 'aws' ? AWS_MODE_VARIABLES : []),
  ];
  return [
    ...set
      .filter((name) => !read.has(name))
      .map((name) => `${name} is set, but the ${process} does not read it`),
    ...required.filter((name) => !set.includes(name)).map((name) => `${name} is required by the ${process}`),
  ];
}
