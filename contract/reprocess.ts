/**
 * The contract of the `reprocess` workflow: reprocess every object under a prefix (or of a date) of an input
 * bucket, one `processFile` child per object. Shared by the workflow, the listing activity, the CLI and the tests.
 */
import { isDate } from './dates';
import { defineQuery } from '@temporalio/workflow';
import type { ObjectRef } from './objects';
import type { ProcessFileOptions } from './workflow';

/** Where the listing of object versions goes on: the markers ListObjectVersions returned. */
export interface ListingCursor {
  keyMarker: string;
  versionIdMarker?: string;
}

/** One object to reprocess, with the workflow ID the notification path gives its version. */
export interface FileToReprocess {
  object: ObjectRef;
  /** `workflowIdFor(object)`: computed by the listing activity, since the workflow sandbox cannot hash. */
  workflowId: string;
}

/** One page of ListObjectVersions: the latest version of each key (no delete markers), and where to go on. */
export interface ListingPage {
  files: FileToReprocess[];
  /** Absent on the last page. */
  next?: ListingCursor;
}

export interface ListingRequest {
  bucket: string;
  prefix: string;
  pageSize: number;
  cursor?: ListingCursor;
}

/** What a reprocess run counted, over all its runs (continue-as-new carries them). */
export interface ReprocessCounts {
  /** Latest versions listed under the prefix. */
  listed: number;
  /** processFile runs it started. */
  started: number;
  /** Versions already processed successfully, or being processed, under the same workflow ID: not started. */
  skipped: number;
  /** Started runs that completed. */
  succeeded: number;
  /** Started runs that failed (their own failure report says why). */
  failed: number;
}

export interface ReprocessInput {
  bucket: string;
  /** Keys starting with this are reprocessed; '' is the whole bucket. */
  prefix: string;
  /**
   * Rerun every object, under workflow IDs of this reprocess run (`reprocess-force:…`), which never collide with
   * the notification path's: what was processed successfully is processed again.
   */
  force?: boolean;
  /**
   * processFile runs at a time.
   * @default 10: `REPROCESS_DEFAULTS.concurrency`
   */
  concurrency?: number;
  /**
   * Object versions per ListObjectVersions page (at most 1000); the workflow continues as new after each page.
   * @default 500: `REPROCESS_DEFAULTS.pageSize`
   */
  pageSize?: number;
  /** Options of the processFile runs it starts. */
  options?: ProcessFileOptions;
  /** Carried across continue-as-new: where the listing goes on; absent before the first page. */
  cursor?: ListingCursor;
  /** Carried across continue-as-new: the listing reached its end. */
  listingDone?: boolean;
  /** Carried across continue-as-new: files of the current page not started yet (Temporal suggested a new run). */
  pending?: FileToReprocess[];
  /** Carried across continue-as-new: the counts so far. */
  counts?: ReprocessCounts;
}

export type ReprocessStage = 'listing' | 'running' | 'done' | 'cancelled';

/** The `reprocessProgress` query, and the workflow's result. */
export interface ReprocessProgress extends ReprocessCounts {
  stage: ReprocessStage;
  bucket: string;
  prefix: string;
  force: boolean;
  /** Started runs not finished yet. */
  inFlight: number;
  /** Every page was listed. */
  listingDone: boolean;
  /** A cancel stopped it starting files; runs already started go on, abandoned. */
  cancelled: boolean;
}

export const REPROCESS_DEFAULTS = { concurrency: 10, pageSize: 500 } as const;

export const reprocessProgressQuery = defineQuery<ReprocessProgress>('reprocessProgress');

/**
 * `reprocess:BUCKET/PREFIX@STARTED`: one per invocation (the time makes it unique), so that a `--force` run's
 * child IDs, which contain it, are new each time.
 */
export function reprocessWorkflowId(bucket: string, prefix: string, started: Date, force = false): string {
  return `reprocess${force ? '-force' : ''}:${bucket}/${prefix}@${started.toISOString()}`;
}

/** The child ID of a forced rerun: names the reprocess run, and never starts with the notification path's `file:`. */
export function forcedWorkflowId(reprocessId: string, fileWorkflowId: string): string {
  return `reprocess-force:${reprocessId}/${fileWorkflowId}`;
}

/** The placeholder of `REPROCESS_DATE_LAYOUT` that `--date` replaces. */
export const DATE_PLACEHOLDER = 'YYYY-MM-DD';
export const DEFAULT_DATE_LAYOUT = `raw-data/${DATE_PLACEHOLDER}/`;

/** What is wrong with a date layout, if anything: it must hold the placeholder exactly once. */
export function dateLayoutProblem(layout: string): string | undefined {
  const count = layout.split(DATE_PLACEHOLDER).length - 1;
  if (count === 1) return undefined;
  return `expected the placeholder ${DATE_PLACEHOLDER} exactly once (e.g. ${DEFAULT_DATE_LAYOUT}), found it ${count} times`;
}

/**
 * The prefix of a date's objects: `layout` with its placeholder replaced by `date`.
 * @throws naming the date and the expected form when it is not a calendar date written YYYY-MM-DD.
 */
export function datePrefix(layout: string, date: string): string {
  if (!isDate(date))
    throw new Error(`--date ${date} is not a calendar date: write it YYYY-MM-DD, e.g. --date 2026-01-31`);
  const problem = dateLayoutProblem(layout);
  if (problem) throw new Error(`date layout "${layout}": ${problem}`);
  return layout.replace(DATE_PLACEHOLDER, date);
}
