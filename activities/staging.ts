/**
 * Activities of a run's staging folder: plan the chunks (one streaming scan of the quote state), find the
 * chunks an earlier run already finished, add up the chunks' statistics, assemble the output from the parts
 * with S3 multipart copy, remove the staging folder.
 *
 * Staging layout in the output bucket, all keys deterministic so that a retry or a rerun overwrites:
 *   staging/<hash of bucket, key and version>/plan.json
 *   …/part-00001.csv, …/rejects-00001.csv, …/stats-00001.json   (one of each per chunk; stats last)
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { isNoSuchBucket, isNotFound, isPreconditionFailed, s3Metadata } from '../common/aws';
import { mapLimit } from '../common/parallel';
import { addColumnStatistics } from '../common/column-statistics';
import { FailureType, InvalidInputError } from '../contract/failures';
import type { CsvDelimiter } from '../contract/jobs';
import { OUTPUT_METADATA, STAGING_PREFIX, stagingKeys } from '../contract/layout';
import type { ChunkRange, PlannedChunk, SourceVersion } from '../contract/objects';
import type { ProcessorStats, Summary } from '../contract/reports';
import { planChunks, type ChunkPlan } from '../csv/chunk-plan';
import { refuseWideEncodings } from '../csv/encoding';
import { bucketMissing } from './objects';
import { outputBucketOf } from './output-bucket';

/** S3's smallest part, except for the last part of an upload. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** S3's largest part. */
const MAX_PART_BYTES = 5 * 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Parallel S3 requests of one activity. */
const PARALLEL = 16;

export interface PlanInput {
  source: SourceVersion;
  size: number;
  /** The size of a chunk asked for; the workflow plans only CSV files larger than that. */
  chunkSize: number;
  /** The field separator of the object's metadata; a comma without. */
  delimiter?: CsvDelimiter;
  /** Stamped on the output; a plan an earlier run left keeps its own, so reused parts still match. */
  processedAt: string;
}

export interface RunPlan {
  stagingPrefix: string;
  processedAt: string;
  /** The chunk size used (raised above the one asked for when S3's 10,000 parts require it). */
  chunkSize: number;
  /** The header record's text. */
  header: string;
  /** Data rows the scan counted. */
  rows?: number;
  /** Byte ranges of whole records, the first from 0; a single one when the scan found one chunk only. */
  chunks: ChunkRange[];
}

export interface MergeInput {
  stagingPrefix: string;
  /** Which parts, in order: `part` for the output, `rejects` for the rejects file. */
  kind: 'part' | 'rejects';
  indices: number[];
  destinationKey: string;
  contentType: string;
  /** User metadata of the assembled object, as text (encoded here for S3 when not ASCII). */
  metadata: Record<string, string>;
}

/** The staging folder of one object version. */
export function stagingPrefixFor(source: SourceVersion): string {
  const id = `${source.bucket}/${source.key}@${source.versionId ?? source.etag}`;
  return `${STAGING_PREFIX}${createHash('sha256').update(id).digest('hex').slice(0, 32)}/`;
}

// eslint-disable-next-line max-lines-per-function -- an activity factory: its activities share the S3 client
export function createStagingActivities({ s3, outputBucket }: { s3: S3Client; outputBucket: string }) {
  const bucket = outputBucketOf(s3, outputBucket);
  const getText = async (key: string) => (await bucket.getText(key))?.text;
  const list = (prefix: string) => bucket.list(prefix);

  const readStats = async (prefix: string, index: number): Promise<ProcessorStats> => {
    const text = await getText(stagingKeys(prefix, index).stats);
    if (text === undefined) {
      throw ApplicationFailure.create({
        message: `the statistics of chunk ${index + 1} (${stagingKeys(prefix, index).stats}) are missing although it succeeded`,
        type: FailureType.outputInvalid,
      });
    }
    return JSON.parse(text) as ProcessorStats;
  };

  return {
    /**
     * Plans a run: a CSV file larger than `chunkSize` is split by one streaming scan (heartbeating), anything
     * else runs whole. A plan an earlier run of the same version left in staging is taken as it is, with its
     * `processedAt`. Broken CSV is a permanent failure naming the line.
     */
    async planRun({ source, size, chunkSize, delimiter, processedAt }: PlanInput): Promise<RunPlan> {
      const stagingPrefix = stagingPrefixFor(source);
      const planKey = `${stagingPrefix}plan.json`;
      const earlier = await getText(planKey);
      if (earlier !== undefined) {
        const saved = JSON.parse(earlier) as {
          plan: RunPlan;
          source: SourceVersion;
          requestedChunkSize: number;
          delimiter?: CsvDelimiter;
        };
        // The same bytes may come again with other metadata (a copy onto itself keeps the ETag).
        if (
          saved.source.etag === source.etag &&
          saved.requestedChunkSize === chunkSize &&
          saved.delimiter === delimiter
        ) {
          return saved.plan;
        }
      }
      const save = async (plan: RunPlan) => {
        await bucket.putJson(planKey, { plan, source, requestedChunkSize: chunkSize, delimiter });
        return plan;
      };
      const uri = `s3://${source.bucket}/${source.key}`;
      let body;
      try {
        const res = await s3.send(
          new GetObjectCommand({
            Bucket: source.bucket,
            Key: source.key,
            IfMatch: `"${source.etag}"`,
            ...(source.versionId ? { VersionId: source.versionId } : {}),
          }),
        );
        body = res.Body as Readable;
      } catch (err) {
        if (isNoSuchBucket(err)) throw bucketMissing(source.bucket, uri, err);
        if (isNotFound(err) || isPreconditionFailed(err)) {
          throw ApplicationFailure.create({
            message: `${uri} (ETag ${source.etag}) is gone: deleted or overwritten after the notification.`,
            type: isNotFound(err) ? FailureType.objectMissing : FailureType.objectSuperseded,
            nonRetryable: true,
            cause: err as Error,
          });
        }
        throw err;
      }
      const ctx = Context.current();
      let scanned = 0;
      async function* heartbeating(stream: Readable): AsyncGenerator<Buffer> {
        for await (const piece of stream) {
          scanned += (piece as Buffer).length;
          ctx.heartbeat({ scanned });
          yield piece as Buffer;
        }
      }
      let plan: ChunkPlan;
      try {
        plan = await planChunks(
          refuseWideEncodings(heartbeating(body), uri),
          chunkSize,
          uri,
          size,
          delimiter,
        );
      } catch (err) {
        body.destroy();
        if (!(err instanceof InvalidInputError)) throw err;
        throw ApplicationFailure.create({
          message: `${err.message} Fix the file and upload it again.`,
          type: FailureType.invalidInput,
          nonRetryable: true,
        });
      }
      return save({
        stagingPrefix,
        processedAt,
        chunkSize: plan.chunkSize,
        header: plan.header,
        rows: plan.rows,
        chunks: plan.chunks,
      });
    },

    /**
     * The chunks whose part and statistics an earlier attempt or run left in staging, made from this version
     * for the same range and `processedAt` (the part's metadata says so): those need not run again.
     */
    async completedChunks(input: {
      stagingPrefix: string;
      chunks: PlannedChunk[];
      sourceEtag: string;
      processedAt: string;
    }): Promise<number[]> {
      const keys = await list(input.stagingPrefix);
      const candidates = input.chunks.filter((c) => {
        const k = stagingKeys(input.stagingPrefix, c.index);
        return keys.has(k.part) && keys.has(k.stats);
      });
      const verified = await mapLimit(candidates, PARALLEL, async (c) => {
        const head = await s3
          .send(
            new HeadObjectCommand({
              Bucket: outputBucket,
              Key: stagingKeys(input.stagingPrefix, c.index).part,
            }),
          )
          .catch(() => undefined);
        const meta = head?.Metadata ?? {};
        const ok =
          meta[OUTPUT_METADATA.rangeStart] === String(c.start) &&
          meta[OUTPUT_METADATA.rangeEnd] === String(c.end) &&
          meta[OUTPUT_METADATA.processedAt] === input.processedAt &&
          meta[OUTPUT_METADATA.sourceEtag] === input.sourceEtag;
        return ok ? c.index : undefined;
      });
      return verified.filter((i): i is number => i !== undefined);
    },

    /** Adds up the statistics of the chunks: exact sums, the smallest minimum, the largest maximum. */
    async summarizeChunks({ stagingPrefix, indices }: { stagingPrefix: string; indices: number[] }) {
      const all = await mapLimit(indices, PARALLEL, (i) => readStats(stagingPrefix, i));
      return summarize(all);
    },

    /**
     * Assembles `destinationKey` from the parts with a multipart upload. Parts of 5 MiB or more are copied
     * by S3 (UploadPartCopy, no bytes through the worker); smaller ones are gathered into 5 MiB parts, so
     * at most 10 MiB pass through memory at a time. Empty parts are skipped.
     */
    async mergeParts(input: MergeInput): Promise<{ key: string; size: number; parts: number }> {
      const ctx = Context.current();
      const previous = ctx.info.heartbeatDetails as { uploadId?: string } | undefined;
      if (previous?.uploadId) {
        // An earlier attempt's upload: abandon it, this attempt starts over.
        await s3
          .send(
            new AbortMultipartUploadCommand({
              Bucket: outputBucket,
              Key: input.destinationKey,
              UploadId: previous.uploadId,
            }),
          )
          .catch(() => undefined);
      }
      const Metadata = s3Metadata(input.metadata);
      const sizes = await list(input.stagingPrefix);
      const sources = input.indices.map((index) => {
        const key = stagingKeys(input.stagingPrefix, index)[input.kind];
        const size = sizes.get(key);
        if (size === undefined) {
          throw ApplicationFailure.create({
            message: `staging part ${key} of chunk ${index + 1} is missing: rerun the file (npm run redrive) to rebuild it`,
            type: FailureType.outputInvalid,
          });
        }
        return { key, size };
      });
      const total = sources.reduce((sum, s) => sum + s.size, 0);
      if (total === 0) {
        await s3.send(
          new PutObjectCommand({
            Bucket: outputBucket,
            Key: input.destinationKey,
            Body: '',
            ContentType: input.contentType,
            Metadata,
          }),
        );
        return { key: input.destinationKey, size: 0, parts: 0 };
      }
      const { UploadId } = await s3.send(
        new CreateMultipartUploadCommand({
          Bucket: outputBucket,
          Key: input.destinationKey,
          ContentType: input.contentType,
          Metadata,
        }),
      );
      ctx.heartbeat({ uploadId: UploadId });
      const common = { Bucket: outputBucket, Key: input.destinationKey, UploadId };
      const parts: CompletedPart[] = [];
      const copySource = (key: string) => `${outputBucket}/${encodeURIComponent(key)}`;
      const nextNumber = () => {
        if (parts.length >= MAX_PARTS) {
          throw ApplicationFailure.create({
            message: `${input.destinationKey} would need more than ${MAX_PARTS} parts: use a larger chunk-size`,
            type: FailureType.invalidInput,
            nonRetryable: true,
          });
        }
        return parts.length + 1;
      };
      const copy = async (key: string, from: number, to: number) => {
        const PartNumber = nextNumber();
        const res = await s3.send(
          new UploadPartCopyCommand({
            ...common,
            PartNumber,
            CopySource: copySource(key),
            CopySourceRange: `bytes=${from}-${to - 1}`,
          }),
        );
        parts.push({ PartNumber, ETag: res.CopyPartResult?.ETag });
        ctx.heartbeat({ uploadId: UploadId, parts: parts.length });
      };
      const read = async (key: string, from: number, to: number): Promise<Buffer> => {
        const res = await s3.send(
          new GetObjectCommand({ Bucket: outputBucket, Key: key, Range: `bytes=${from}-${to - 1}` }),
        );
        return Buffer.from(await res.Body!.transformToByteArray());
      };
      let held: Buffer[] = [];
      let heldBytes = 0;
      const flush = async () => {
        const PartNumber = nextNumber();
        const res = await s3.send(
          new UploadPartCommand({ ...common, PartNumber, Body: Buffer.concat(held, heldBytes) }),
        );
        parts.push({ PartNumber, ETag: res.ETag });
        held = [];
        heldBytes = 0;
        ctx.heartbeat({ uploadId: UploadId, parts: parts.length });
      };
      const hold = async (key: string, from: number, to: number) => {
        held.push(await read(key, from, to));
        heldBytes += to - from;
        if (heldBytes >= MIN_PART_BYTES) await flush();
      };
      try {
        for (const [i, { key, size }] of sources.entries()) {
          const last = i === sources.length - 1;
          let at = 0;
          if (heldBytes > 0 && size >= MIN_PART_BYTES) {
            // Top up the held bytes to a full part with the head of this one; S3 copies the rest.
            const head = MIN_PART_BYTES - heldBytes;
            await hold(key, 0, head);
            at = head;
          }
          const rest = size - at;
          if (rest === 0) continue;
          if (heldBytes === 0 && (rest >= MIN_PART_BYTES || last)) {
            const pieces = Math.ceil(rest / MAX_PART_BYTES);
            const step = Math.ceil(rest / pieces);
            for (let from = at; from < size; from += step) await copy(key, from, Math.min(size, from + step));
          } else {
            await hold(key, at, size);
          }
        }
        if (heldBytes > 0) await flush();
        await s3.send(new CompleteMultipartUploadCommand({ ...common, MultipartUpload: { Parts: parts } }));
      } catch (err) {
        await s3.send(new AbortMultipartUploadCommand(common)).catch(() => undefined);
        throw err;
      }
      return { key: input.destinationKey, size: total, parts: parts.length };
    },

    /** Removes a file's staging folder (parts, rejects, statistics, plan). */
    async deleteStaging(stagingPrefix: string): Promise<number> {
      const keys = [...(await list(stagingPrefix)).keys()];
      await bucket.deleteKeys(keys);
      return keys.length;
    },
  };
}

/** The statistics of a whole file from those of its chunks (the same numbers one run would give). */
export function summarize(all: readonly Partial<ProcessorStats>[]): Summary {
  const summary: Summary = {
    rowsIn: 0,
    rowsOut: 0,
    rowsRejected: 0,
    bareQuoteFields: 0,
    bytesIn: 0,
    rejectsByRule: {},
    columns: {},
    totals: {},
  };
  for (const s of all) {
    summary.rowsIn += s.rowsIn ?? 0;
    summary.rowsOut += s.rowsOut ?? 0;
    summary.rowsRejected += s.rowsRejected ?? 0;
    summary.bareQuoteFields += s.bareQuoteFields ?? 0;
    summary.bytesIn += s.bytesIn ?? 0;
    if (s.maxRejectedPercent !== undefined) summary.maxRejectedPercent = s.maxRejectedPercent;
    if (s.dynamodb) {
      const into = (summary.dynamodb ??= { table: s.dynamodb.table, itemsWritten: 0, itemsRetried: 0 });
      into.itemsWritten += s.dynamodb.itemsWritten;
      into.itemsRetried += s.dynamodb.itemsRetried;
    }
    for (const [rule, n] of Object.entries(s.rejectsByRule ?? {}))
      summary.rejectsByRule[rule] = (summary.rejectsByRule[rule] ?? 0) + n;
    addColumnStatistics(summary, s);
  }
  return summary;
}
