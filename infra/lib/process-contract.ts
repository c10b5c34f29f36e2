/**
 * What each long-running process reads from its environment: the variable list its main.ts passes to
 * `loadConfig`, read from the source with the TypeScript parser (the lists are not exported). The tests of
 * the deployment files (test/infra.test.ts, test/containers.test.ts) check against it that every variable
 * they set is declared in common/config.ts and that none a process requires is missing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ts from 'typescript';
import { ENV, type EnvName } from '../../common/config';
import { TEMPORAL_ENV } from '../../common/temporal';
import { REPO_ROOT } from './images';

export type ProcessName = 'worker' | 'ingress';

const MAIN_FILE: Record<ProcessName, string> = {
  worker: 'workers/main.ts',
  ingress: 'ingress/main.ts',
};

/** Exported lists a main.ts may spread into its `loadConfig` call. */
const KNOWN_LISTS: Record<string, readonly EnvName[]> = { TEMPORAL_ENV };

const isEnvName = (name: string): name is EnvName => Object.hasOwn(ENV, name);

/** The variables `process` loads, in the order its main.ts lists them. */
export function variablesRead(process: ProcessName): EnvName[] {
  const file = join(REPO_ROOT, MAIN_FILE[process]);
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  let names: EnvName[] | undefined;
  const visit = (node: ts.Node): void => {
    if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'loadConfig'
    ) {
      const list = node.arguments[1];
      if (list && ts.isArrayLiteralExpression(list)) {
        names = list.elements.flatMap((element): EnvName[] => {
          if (ts.isStringLiteral(element) && isEnvName(element.text)) return [element.text];
          if (ts.isSpreadElement(element) && ts.isIdentifier(element.expression)) {
            const spread = KNOWN_LISTS[element.expression.text];
            if (spread) return [...spread];
          }
          throw new Error(`${MAIN_FILE[process]}: cannot read loadConfig entry ${element.getText(source)}`);
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (!names) throw new Error(`${MAIN_FILE[process]} has no loadConfig(name, [...]) call`);
  return names;
}

/** The variables among `names` that have neither a default nor are optional: a process fails without them. */
export function requiredVariables(names: readonly EnvName[]): EnvName[] {
  return names.filter((name) => !ENV[name].safeParse(undefined).success);
}
