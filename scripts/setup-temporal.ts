/**
 * `npm run setup:temporal`: prepares a Temporal namespace for the pipeline, once per namespace and again after
 * an upgrade (it changes only what differs): registers the search attributes the workflows set (contract/
 * workflow.ts), then creates the daily report's Schedule or brings it to REPORT_SCHEDULE_TIME and
 * REPORT_TIME_ZONE. The local stack does both by itself.
 *
 * Connects like the worker: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, … over the profile of
 * temporal.toml that TEMPORAL_PROFILE selects, and TEMPORAL_TASK_QUEUE.
 * Temporal Cloud registers search attributes with `tcld` or its web UI, not through the namespace's API: there,
 * this prints the command to run and goes on with the schedule.
 */
import { isGrpcServiceError } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { loadConfig, SCHEDULE_VARIABLES } from '../common/config';
import { runMain } from '../common/run-main';
import { DAILY_REPORT_SCHEDULE_ID } from '../contract/schedule';
import { SA } from '../contract/workflow';
import { pipelineClient } from './pipeline-client';
import { ensureDailyReportSchedule } from './schedules';

const { IndexedValueType } = temporal.api.enums.v1;
const INDEXED: Partial<Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType>> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
};
/** gRPC status codes of a server that does not let a namespace's API register search attributes. */
const PERMISSION_DENIED = 7;
const UNIMPLEMENTED = 12;
/** `tcld`'s spelling of a type. */
const TCLD: Partial<Record<SearchAttributeType, string>> = {
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
};

async function main(): Promise<void> {
  const schedule = loadConfig('setup:temporal', SCHEDULE_VARIABLES);
  const { client, connection, config, namespace } = await pipelineClient('setup:temporal');
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = Object.values(SA).filter((key) => customAttributes?.[key.name] === undefined);
    if (missing.length === 0) {
      process.stdout.write(`search attributes: all ${Object.keys(SA).length} registered in ${namespace}\n`);
    } else {
      try {
        await connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED[key.type]!])),
        });
        process.stdout.write(`search attributes: registered ${missing.map((k) => k.name).join(', ')}\n`);
      } catch (err) {
        const code: number | undefined = isGrpcServiceError(err) ? err.code : undefined;
        if (code !== PERMISSION_DENIED && code !== UNIMPLEMENTED) throw err;
        process.stdout.write(
          `search attributes: this server does not let the API register them (Temporal Cloud?). Run:\n` +
            `  tcld namespace search-attributes add --namespace ${namespace} ` +
            missing.map((key) => `--search-attribute ${key.name}=${TCLD[key.type]}`).join(' ') +
            '\n',
        );
      }
    }
    const done = await ensureDailyReportSchedule(client, config.TEMPORAL_TASK_QUEUE, {
      time: schedule.REPORT_SCHEDULE_TIME,
      timeZone: schedule.REPORT_TIME_ZONE,
    });
    process.stdout.write(
      `schedule ${DAILY_REPORT_SCHEDULE_ID} ${done}: every day at ${schedule.REPORT_SCHEDULE_TIME} ${schedule.REPORT_TIME_ZONE}, ` +
        `on task queue ${config.TEMPORAL_TASK_QUEUE}, for the UTC day before\n`,
    );
  } finally {
    await connection.close();
  }
}

if (require.main === module) runMain('setup:temporal', main);
