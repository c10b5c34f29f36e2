/**
 * What the inspection of a file decides, from its object's facts and the run's options alone: the job, the
 * route and the chunk settings. No Temporal API and no I/O: tested alone (test/file-decisions.test.ts).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { ObjectInfo } from '../activities/objects';
import { DEFAULTS } from '../contract/defaults';
import {
  chooseJob,
  isCsvJob,
  isJobName,
  JOB_NAMES,
  outputKeyFor,
  validatesRows,
  type CsvDelimiter,
  type JobName,
} from '../contract/jobs';
import { INPUT_METADATA, rejectsKeyFor } from '../contract/layout';
import type { SourceVersion } from '../contract/objects';
import { type ProcessFileOptions, type Route } from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { chunkSettings, csvDelimiterSetting, type ChunkSettings } from './process-chunks';

/** Where a file goes, as the `Route`, `ProcessorType` and `Job` search attributes show it. */
export interface Routing {
  /** `x-amz-meta-processor-type`, or `default`. */
  processorType: string;
  route: Route;
  /** The job the metadata, the schema or the key names; maybe one that does not exist. */
  job: string | undefined;
}

/** The file as inspection found it, and what it decided. */
export interface InspectedFile {
  info: ObjectInfo;
  source: SourceVersion;
  job: JobName;
  processorType: string;
  route: Route;
  settings: ChunkSettings;
  /** CSV jobs: the field separator of the object's metadata, else of its schema (else a comma, in the processor). */
  delimiter: CsvDelimiter | undefined;
  /** The schema the object's metadata names, for the validating jobs (else the processor's default). */
  schema?: string;
  destinationKey: string;
  rejectsKey: string;
  /** Stamped on the outputs; a plan an earlier run left keeps its own. */
  processedAt: string;
}

/**
 * `pool` files go to AWS Batch, `inline` ones to the worker's thread pool, any other type to ECS; a file
 * with no type goes inline when it is no larger than `inlineMaxBytes` (0: never), to ECS otherwise.
 */
function routeFor(processorType: string | undefined, size: number, inlineMaxBytes: number): Route {
  if (processorType === 'pool') return 'batch';
  if (processorType === 'inline') return 'inline';
  if (processorType === undefined && inlineMaxBytes > 0 && size <= inlineMaxBytes) return 'inline';
  return 'ecs';
}

export function routingOf(info: ObjectInfo, options: ProcessFileOptions): Routing {
  const declaredType = info.metadata[INPUT_METADATA.processorType];
  return {
    processorType: declaredType ?? 'default',
    route: routeFor(declaredType, info.size, options.inlineMaxBytes ?? DEFAULTS.inlineMaxBytes),
    job: chooseJob(info.key, info.metadata[INPUT_METADATA.job], info.schema),
  };
}

/**
 * The file's job, settings and output keys.
 * @throws a permanent UnknownJob failure when no job fits, or an InvalidInput one naming a bad metadata value.
 */
export function inspectedFile(
  info: ObjectInfo,
  routing: Routing,
  options: ProcessFileOptions,
  processedAt: string,
): InspectedFile {
  const { job, route, processorType } = routing;
  if (!job || !isJobName(job)) {
    throw ApplicationFailure.create({
      message:
        `no job for s3://${info.bucket}/${info.key}: ` +
        (job ? `unknown job "${job}" in x-amz-meta-job` : 'its extension matches no job') +
        `. Set x-amz-meta-job to one of ${JOB_NAMES.join(', ')} and upload it again.`,
      type: FailureType.unknownJob,
      nonRetryable: true,
    });
  }
  const settings = chunkSettings(info.metadata, options);
  const destinationKey = outputKeyFor(info.key, job);
  return {
    info,
    source: {
      bucket: info.bucket,
      key: info.key,
      etag: info.etag,
      ...(info.versionId ? { versionId: info.versionId } : {}),
    },
    job,
    processorType,
    route,
    settings,
    // The object's, else its schema's: the chunk planner reads the file with it too.
    delimiter: isCsvJob(job) ? (csvDelimiterSetting(info.metadata) ?? info.schema.delimiter) : undefined,
    ...(validatesRows(job) && info.schema.named ? { schema: info.schema.name } : {}),
    destinationKey,
    rejectsKey: rejectsKeyFor(destinationKey),
    processedAt,
  };
}

/** A CSV file larger than its chunk size is planned into chunks; anything else runs whole. */
export const needsPlan = (file: InspectedFile): boolean =>
  isCsvJob(file.job) && file.info.size > file.settings.chunkSize;
