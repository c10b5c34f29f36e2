// ESLint flat config: type-aware typescript-eslint everywhere, plus what each folder may import.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.data/', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it return promises the runner itself awaits.
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'before', 'after'] },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Production code is read in files and functions of a sitting (docs/architecture.md, "Folders"). Activity
    // and backend factories are exempt where they say so: their functions share the clients they close over.
    files: ['**/*.{ts,tsx}'],
    ignores: ['test/**', 'bench/**'],
    rules: {
      'max-lines': ['error', { max: 500 }],
      'max-lines-per-function': ['error', { max: 150 }],
    },
  },
  {
    // The console's browser script (console/upload.js): plain JavaScript for the browser, outside the TS project.
    files: ['console/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: Object.fromEntries(
        ['document', 'window', 'fetch', 'FormData', 'URLSearchParams', 'XMLHttpRequest'].map((g) => [
          g,
          'readonly',
        ]),
      ),
    },
  },
  {
    // Stub activities are async to match the real signatures, whether or not they await.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  // What each folder may import: the folder table of docs/architecture.md, "Folders".
  ...boundaries({
    contract: {
      why: 'contract/ is pure and sandbox-safe: it imports only its own files and Temporal definitions',
      folders: [
        'console',
        'common',
        'csv',
        'workflows',
        'activities',
        'processors',
        'workers',
        'ingress',
        'infra',
        'scripts',
      ],
      packages: ['@aws-sdk/*', '@temporalio/activity', '@temporalio/client', '@temporalio/worker', 'zod'],
      builtins: true,
    },
    csv: {
      why: 'csv/ is the CSV library the processors and activities share: it imports only contract/',
      folders: [
        'console',
        'common',
        'workflows',
        'activities',
        'processors',
        'workers',
        'ingress',
        'infra',
        'scripts',
      ],
      packages: ['@aws-sdk/*', '@temporalio/*'],
    },
    common: {
      why: 'common/ (configuration, AWS clients, logging) is used by every process and depends on none',
      folders: [
        'console',
        'csv',
        'workflows',
        'activities',
        'processors',
        'workers',
        'ingress',
        'infra',
        'scripts',
      ],
      packages: ['@temporalio/workflow', '@temporalio/activity', '@temporalio/worker'],
    },
    workflows: {
      why: "workflow code runs in Temporal's deterministic sandbox: contract/ and the types of activities only",
      folders: ['console', 'common', 'csv', 'processors', 'workers', 'ingress', 'infra', 'scripts'],
      typesOnly: ['activities'],
      packages: ['@aws-sdk/*', '@temporalio/activity', '@temporalio/client', '@temporalio/worker'],
      builtins: true,
    },
    activities: {
      why: 'activities import contract/, common/ and csv/; workflows are their callers, processors run apart',
      folders: ['console', 'workflows', 'processors', 'workers', 'ingress', 'infra', 'scripts'],
      packages: ['@temporalio/workflow', '@temporalio/client', '@temporalio/worker'],
    },
    processors: {
      why: 'processors run in their own container, without Temporal: contract/, common/ and csv/ only',
      folders: ['console', 'workflows', 'activities', 'workers', 'ingress', 'infra', 'scripts'],
      files: ['contract/workflow'],
      packages: ['@temporalio/*'],
    },
    workers: {
      why: 'the worker hosts workflows (by path) and activities; it never imports other processes',
      folders: ['console', 'processors', 'ingress', 'infra', 'scripts'],
    },
    ingress: {
      why: 'the ingress is a Temporal client: contract/, common/ and the workflow definitions it starts',
      folders: ['console', 'csv', 'activities', 'processors', 'workers', 'infra', 'scripts'],
      packages: ['@temporalio/worker', '@temporalio/activity'],
    },
    console: {
      why: "the console is a Temporal and S3 client: contract/ and common/, never the workers' or processors' code",
      folders: ['csv', 'workflows', 'activities', 'processors', 'workers', 'ingress', 'infra', 'scripts'],
      packages: ['@temporalio/worker', '@temporalio/activity', '@temporalio/workflow'],
    },
    infra: {
      why: 'the CDK app imports contract/ and common/ configuration, never the code it deploys',
      folders: ['console', 'csv', 'workflows', 'activities', 'processors', 'workers', 'ingress', 'scripts'],
      packages: ['@temporalio/*'],
    },
  }),
);

/** One `no-restricted-imports` rule per folder, from what it must not import. */
function boundaries(table) {
  // Relative specifiers only (infra/ is two folders deep): `**/common` would also match `@temporalio/common`.
  const anywhere = (paths) =>
    paths.flatMap((p) => ['../', '../../'].flatMap((up) => [`${up}${p}`, `${up}${p}/**`]));
  return Object.entries(table).map(([folder, rule]) => ({
    files: [`${folder}/**/*.{ts,tsx}`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: rule.builtins ? [...builtinModules, ...builtinModules.map((m) => `node:${m}`)] : [],
          patterns: [
            {
              group: [...anywhere(rule.folders), ...anywhere(rule.files ?? []), ...(rule.packages ?? [])],
              message: rule.why,
            },
            ...(rule.typesOnly
              ? [{ group: anywhere(rule.typesOnly), allowTypeImports: true, message: rule.why }]
              : []),
          ],
        },
      ],
    },
  }));
}
