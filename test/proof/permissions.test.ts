/**
 * The permission proof. moto enforces no IAM, so the end-to-end tests pass whatever the roles say; here every
 * AWS call the ingress, the worker and the processor made in those tests (recorded with AWS_CALL_LOG_DIR) is
 * mapped to the IAM authorizations it needs and evaluated, offline, against that process's role in the
 * synthesized CDK template. `npm test` runs it after the other test files, which record the calls. Inline
 * runs (component `inline`) are the processor's code on the worker's threads, with the worker's credentials:
 * their calls are evaluated against the worker's role, and so are the calls every processor run made, which an
 * inline run of the same file would make too.
 *
 * It fails when the code makes a call its role does not grant, when the shipped code names a command no test
 * exercised, and when a role grants one of the things its process must never do.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import type { Component, RecordedCall } from '../../common/aws';
import { PipelineStack } from '../../infra/lib/pipeline-stack';
import { STACK_NAMES } from '../../scripts/stack';
import { REPO_ROOT } from '../../scripts/tools';
import { AWS_CALL_LOG_DIR } from '../support/aws-calls';
import { OIDC_CONSOLE } from '../support/console-settings';
import { UPLOADS_PREFIX } from '../../contract/layout';
import { LOCAL_COMPUTE } from '../support/aws-compute';
import {
  ACCOUNT,
  IMPLIED_BY,
  iamRequestsOf,
  readRecordedCalls,
  REGION,
  TemplateIam,
  type CallContext,
  type Decision,
  type IamRequest,
} from '../support/iam';

/** Buckets of the tests that play the deployment's input bucket: more input buckets (INPUT_BUCKETS). */
const ALSO_INPUT_BUCKETS = ['pipeline-manual', 'pipeline-deleted', 'pipeline-reprocess'];
/**
 * The folders whose code runs in the deployment, and the process that runs it (common/: any of them).
 * processors/ also runs inline, as the worker: the processor's calls are proven against both roles.
 */
const SHIPPED: Record<string, Component | undefined> = {
  activities: 'worker',
  workers: 'worker',
  ingress: 'ingress',
  processors: 'processor',
  console: 'console',
  common: undefined,
};

const localArn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
const LOCAL = {
  jobQueue: localArn('batch', `job-queue/${LOCAL_COMPUTE.jobQueue}`),
  jobDefinition: localArn('batch', `job-definition/${LOCAL_COMPUTE.jobDefinition}:1`),
  cluster: localArn('ecs', `cluster/${LOCAL_COMPUTE.cluster}`),
  taskDefinition: localArn('ecs', `task-definition/${LOCAL_COMPUTE.taskDefinition}:1`),
  servicesCluster: localArn('ecs', 'cluster/file-pipeline-services'),
};

let stack: PipelineStack;
let iam: TemplateIam;
let calls: RecordedCall[];
let context: CallContext;

/** Every component that records calls (common/aws.ts). */
const COMPONENTS = [
  'ingress',
  'worker',
  'processor',
  'inline',
  'console',
] as const satisfies readonly Component[];

function roleOf(component: Component): IConstruct {
  const roles: Record<Component, IConstruct> = {
    ingress: stack.orchestration.ingressTaskRole,
    worker: stack.orchestration.workerTaskRole,
    processor: stack.compute.taskRole,
    // An inline run is the processor on the worker's own threads: the worker's role makes its calls.
    inline: stack.orchestration.workerTaskRole,
    console: stack.operatorConsole!.taskRole,
  };
  return roles[component];
}

/**
 * What `role` refuses of the authorizations the calls `made` need: one line per refused action, with the first
 * call that needed it. Many calls ask for the same authorization: each distinct one is evaluated once.
 */
async function refusals(made: RecordedCall[], role: IConstruct): Promise<string[]> {
  const asked = new Map<string, { req: IamRequest; call: RecordedCall }>();
  for (const call of made) {
    for (const req of iamRequestsOf(call, context)) asked.set(JSON.stringify(req), { req, call });
  }
  assert.ok(asked.size > 0, 'no authorization to evaluate');
  const refused = new Map<string, string>();
  for (const { req, call } of asked.values()) {
    const decision = await iam.decide(role, req);
    if (decision !== 'Allowed' && !refused.has(req.action)) {
      refused.set(
        req.action,
        `${call.component} ${call.command} ${JSON.stringify(call.input).slice(0, 300)}\n  needs ${req.action} on ${req.resource}` +
          `${Object.keys(req.context).length ? ` (${JSON.stringify(req.context)})` : ''}: ${decision}`,
      );
    }
  }
  return [...refused.values()];
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** The commands the shipped code names (`new XCommand(`), each with the process whose code names it. */
function shippedCommands(): { command: string; component: Component | undefined; file: string }[] {
  return Object.entries(SHIPPED).flatMap(([dir, component]) =>
    filesUnder(join(REPO_ROOT, dir)).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/new (\w+Command)\(/g)].map(([, command]) => ({
        command: command!,
        component,
        file: file.slice(REPO_ROOT.length + 1),
      })),
    ),
  );
}

describe('permissions: every AWS call of the end-to-end tests against the roles of infra/', () => {
  before(() => {
    assert.ok(
      existsSync(AWS_CALL_LOG_DIR),
      `no recorded calls in ${AWS_CALL_LOG_DIR}: run npm test, whose end-to-end tests record them`,
    );
    calls = readRecordedCalls(AWS_CALL_LOG_DIR);
    stack = new PipelineStack(new App(), 'FilePipeline', { settings: { console: OIDC_CONSOLE } });
    iam = new TemplateIam(stack, Template.fromStack(stack).toJSON());
    iam.bindBucket(stack.storage.inputBucket, STACK_NAMES.inputBucket);
    iam.bindBucket(stack.storage.outputBucket, STACK_NAMES.outputBucket);
    iam.bindTable(stack.table.table, STACK_NAMES.table);
    iam.bindQueue(stack.queue.queue, STACK_NAMES.queue);
    iam.bindQueue(stack.queue.deadLetterQueue, STACK_NAMES.deadLetterQueue);
    iam.bind(stack.compute.jobQueue, LOCAL.jobQueue, { JobQueueArn: LOCAL.jobQueue });
    iam.bind(stack.compute.jobDefinition, LOCAL.jobDefinition);
    iam.bind(stack.compute.cluster, LOCAL_COMPUTE.cluster, { Arn: LOCAL.cluster });
    iam.bind(stack.compute.taskDefinition, LOCAL.taskDefinition);
    iam.bind(stack.orchestration.cluster, 'file-pipeline-services', { Arn: LOCAL.servicesCluster });

    const jobTags = new Map<string, Record<string, string>>();
    for (const c of calls) {
      if (c.command === 'SubmitJobCommand' && c.output?.jobId) {
        jobTags.set(c.output.jobId, (c.input.tags ?? {}) as Record<string, string>);
      }
    }
    context = {
      bucket: (name) => {
        if (ALSO_INPUT_BUCKETS.includes(name)) return STACK_NAMES.inputBucket;
        if (name === STACK_NAMES.inputBucket || name === STACK_NAMES.outputBucket) return name;
        throw new Error(`bucket ${name} of a recorded call is no bucket of the deployment: bind it here`);
      },
      table: (name) => {
        if (name === STACK_NAMES.table) return name;
        throw new Error(`table ${name} of a recorded call is no table of the deployment: bind it here`);
      },
      jobTags: (jobId) => jobTags.get(jobId),
      taskDefinitionRoles: (arn) => iam.taskDefinitionRoles(arn),
    };
  });

  it('has calls of every process, naming every command the shipped code sends', () => {
    for (const component of COMPONENTS) {
      assert.ok(
        calls.some((c) => c.component === component),
        `no call of the ${component} was recorded`,
      );
    }
    const made = (component: Component | undefined, command: string) =>
      calls.some((c) => (component === undefined || c.component === component) && c.command === command);
    const missing = shippedCommands()
      .filter(
        ({ command, component }) => !made(component, command) && !made(component, IMPLIED_BY[command] ?? ''),
      )
      .map(({ command, component, file }) => `${command} of the ${component ?? 'any process'} (${file})`);
    assert.deepEqual(
      [...new Set(missing)],
      [],
      'commands of the shipped code that no end-to-end test made, so nothing proves their permissions',
    );
  });

  for (const component of COMPONENTS) {
    it(`allows every call the ${component} made`, async () => {
      const made = calls.filter((c) => c.component === component);
      assert.deepEqual(
        await refusals(made, roleOf(component)),
        [],
        `authorizations of the ${component}'s calls its role refuses`,
      );
    });
  }

  // An inline run is the processor's code: whatever a processor run made (multipart uploads and their abort,
  // the copy of a whole file's output onto itself), an inline run of such a file makes too, as the worker.
  it('allows the worker every call a processor run made, as an inline run would make it', async () => {
    const made = calls.filter((c) => c.component === 'processor');
    assert.deepEqual(
      await refusals(made, roleOf('inline')),
      [],
      "authorizations of the processor's calls the worker's role refuses to its inline runs",
    );
  });

  // The csv-to-dynamodb writer's one call (processors/dynamodb-writer.ts), as common/aws.ts records it, from a
  // Batch or ECS run and from an inline run: the mapping and the grants, until the job's end-to-end tests
  // record such calls themselves (then the tests above prove them too).
  describe('the rows of csv-to-dynamodb', () => {
    const batchWrite = (component: Component): RecordedCall => ({
      component,
      region: REGION,
      client: 'DynamoDBClient',
      command: 'BatchWriteItemCommand',
      input: {
        RequestItems: {
          [STACK_NAMES.table]: [{ PutRequest: { Item: { transaction_id: { S: 'TX-1' } } } }],
        },
      },
    });

    it('asks for dynamodb:BatchWriteItem on the deployment\u2019s table, for each table of the batch', () => {
      assert.deepEqual(iamRequestsOf(batchWrite('processor'), context), [
        {
          action: 'dynamodb:BatchWriteItem',
          resource: localArn('dynamodb', `table/${STACK_NAMES.table}`),
          context: {},
        },
      ]);
      const elsewhere = batchWrite('processor');
      elsewhere.input = { RequestItems: { 'another-table': [] } };
      assert.throws(
        () => iamRequestsOf(elsewhere, context),
        /table another-table .* no table of the deployment/,
      );
    });

    for (const component of ['processor', 'inline'] as const) {
      it(`allows the ${component} to write rows into the table`, async () => {
        assert.deepEqual(
          await refusals([batchWrite(component)], roleOf(component)),
          [],
          `authorizations of the ${component}'s BatchWriteItem its role refuses`,
        );
      });
    }
  });

  // The Upload page's presigned POST is signed with the console's credentials and sent by the browser: no SDK
  // middleware sees it, so no test records it. S3 authorizes it as the console's s3:PutObject of the key its
  // policy fixes (console/upload.ts), always under uploads/.
  it('allows the console to sign an upload, under uploads/ only', async () => {
    const upload = `arn:aws:s3:::${STACK_NAMES.inputBucket}/${UPLOADS_PREFIX}2026-01-01/a.csv`;
    assert.equal(
      await iam.decide(roleOf('console'), { action: 's3:PutObject', resource: upload, context: {} }),
      'Allowed',
    );
  });

  describe('what each process must never do', () => {
    const input = (key: string) => `arn:aws:s3:::${STACK_NAMES.inputBucket}/${key}`;
    const output = (key: string) => `arn:aws:s3:::${STACK_NAMES.outputBucket}/${key}`;
    const queue = localArn('sqs', STACK_NAMES.queue);
    const deadLetters = localArn('sqs', STACK_NAMES.deadLetterQueue);
    const table = localArn('dynamodb', `table/${STACK_NAMES.table}`);
    /** What neither the processor nor the worker may do to the table: they only put rows. */
    const tableNever = (): [string, IamRequest][] => [
      ['read the table', req('dynamodb:Scan', table)],
      ['update an item', req('dynamodb:UpdateItem', table)],
      ['delete the table', req('dynamodb:DeleteTable', table)],
      ['write rows into another table', req('dynamodb:BatchWriteItem', localArn('dynamodb', 'table/other'))],
    ];
    const req = (action: string, resource: string, ctx: IamRequest['context'] = {}): IamRequest => ({
      action,
      resource,
      context: ctx,
    });
    /** Built once the template is read: the role ARNs come from it. */
    const never = (): Record<Exclude<Component, 'inline'>, [string, IamRequest][]> => ({
      processor: [
        ['delete an input', req('s3:DeleteObject', input('a.csv'))],
        ['write an input', req('s3:PutObject', input('a.csv'))],
        [
          'write a report (the worker writes them)',
          req('s3:PutObject', output('reports/2026-01-01/a.csv.json')),
        ],
        ['delete an output', req('s3:DeleteObject', output('outputs/a.csv'))],
        ['receive notifications', req('sqs:ReceiveMessage', queue)],
        ['delete a notification', req('sqs:DeleteMessage', queue)],
        ['send to the dead-letter queue', req('sqs:SendMessage', deadLetters)],
        ...tableNever(),
      ],
      worker: [
        ['write an input', req('s3:PutObject', input('a.csv'))],
        ['delete an input', req('s3:DeleteObject', input('a.csv'))],
        ['delete an output', req('s3:DeleteObject', output('outputs/a.csv'))],
        ['delete a report', req('s3:DeleteObject', output('reports/2026-01-01/a.csv.json'))],
        ['delete rejects', req('s3:DeleteObject', output('rejects/outputs/a.csv'))],
        [
          'pass its own role',
          req('iam:PassRole', iam.roleArn(roleOf('worker')), {
            'iam:PassedToService': 'ecs-tasks.amazonaws.com',
          }),
        ],
        [
          'pass the processor role to another service',
          req('iam:PassRole', iam.roleArn(roleOf('processor')), {
            'iam:PassedToService': 'lambda.amazonaws.com',
          }),
        ],
        [
          'run the processor task in the services cluster',
          req('ecs:RunTask', LOCAL.taskDefinition, { 'ecs:cluster': LOCAL.servicesCluster }),
        ],
        [
          'stop a task of the services cluster (itself, the ingress)',
          req('ecs:StopTask', localArn('ecs', 'task/file-pipeline-services/abc'), {
            'ecs:cluster': LOCAL.servicesCluster,
          }),
        ],
        ['submit to another job queue', req('batch:SubmitJob', localArn('batch', 'job-queue/other'))],
        [
          'terminate a job that is not the pipeline’s',
          req('batch:TerminateJob', localArn('batch', 'job/foreign')),
        ],
        ['receive dead letters', req('sqs:ReceiveMessage', deadLetters)],
        ...tableNever(),
      ],
      ingress: [
        ['read an input', req('s3:GetObject', input('a.csv'))],
        ['list the input bucket', req('s3:ListBucket', `arn:aws:s3:::${STACK_NAMES.inputBucket}`)],
        ['submit a job', req('batch:SubmitJob', LOCAL.jobQueue)],
        ['run a task', req('ecs:RunTask', LOCAL.taskDefinition, { 'ecs:cluster': LOCAL.cluster })],
        ['receive dead letters', req('sqs:ReceiveMessage', deadLetters)],
        ['delete dead letters', req('sqs:DeleteMessage', deadLetters)],
        ['purge the queue', req('sqs:PurgeQueue', queue)],
        ['write rows', req('dynamodb:BatchWriteItem', table)],
      ],
      console: [
        ['write an input outside uploads/', req('s3:PutObject', input('a.csv'))],
        ['read an input outside uploads/', req('s3:GetObject', input('a.csv'))],
        ['delete an upload', req('s3:DeleteObject', input('uploads/2026-01-01/a.csv'))],
        ['write an output', req('s3:PutObject', output('outputs/a.csv'))],
        ['read staging', req('s3:GetObject', output('staging/a.csv/plan.json'))],
        ['delete a report', req('s3:DeleteObject', output('reports/2026-01-01/a.csv.json'))],
        ['receive notifications', req('sqs:ReceiveMessage', queue)],
        ['delete a notification', req('sqs:DeleteMessage', queue)],
        ['purge the dead-letter queue', req('sqs:PurgeQueue', deadLetters)],
        ['read the table', req('dynamodb:Scan', table)],
        ['submit a job', req('batch:SubmitJob', LOCAL.jobQueue)],
        ['run a task', req('ecs:RunTask', LOCAL.taskDefinition, { 'ecs:cluster': LOCAL.cluster })],
      ],
    });

    for (const component of ['processor', 'worker', 'ingress', 'console'] as const) {
      it(`the ${component}'s role refuses what it must never do`, async () => {
        const granted: string[] = [];
        for (const [what, r] of never()[component]) {
          const decision: Decision = await iam.decide(roleOf(component), r);
          if (decision === 'Allowed') granted.push(`${what}: ${r.action} on ${r.resource}`);
        }
        assert.deepEqual(granted, []);
      });
    }

    it('denies deleting a data bucket to every role, explicitly', async () => {
      for (const component of ['processor', 'worker', 'ingress', 'console'] as const) {
        for (const bucket of [STACK_NAMES.inputBucket, STACK_NAMES.outputBucket]) {
          assert.equal(
            await iam.decide(roleOf(component), req('s3:DeleteBucket', `arn:aws:s3:::${bucket}`)),
            'ExplicitlyDenied',
            `${component}: s3:DeleteBucket on ${bucket}`,
          );
        }
      }
    });
  });

  it('keeps the AGPL-3.0 evaluator out of what ships: a development dependency only', () => {
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; license?: string }>;
    };
    const agpl = Object.entries(lock.packages).filter(([, p]) => /AGPL/.test(p.license ?? ''));
    assert.ok(agpl.length > 0, 'the lock file lists the evaluator');
    for (const [path, p] of agpl)
      assert.equal(p.dev, true, `${path} (${p.license}) would be installed in the images`);
    for (const file of Object.keys(SHIPPED).flatMap((dir) => filesUnder(join(REPO_ROOT, dir)))) {
      assert.doesNotMatch(readFileSync(file, 'utf8'), /@cloud-copilot\//, `${file} imports the evaluator`);
    }
  });
});
