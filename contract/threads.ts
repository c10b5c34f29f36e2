/**
 * The contract between the worker's inline pool (activities/inline-backend.ts) and its threads
 * (processors/thread.ts): the messages each way, and the output as the processor's upload left it.
 */
import type { ProcessorStats } from './reports';

/** The main output as S3 stored it: what a caller in the same process can check without a HeadObject. */
export interface UploadedOutput {
  key: string;
  /** Bytes written. */
  size: number;
  /** Its ETag, without quotes; left out once a CopyObject replaced its metadata (the copy has another). */
  etag?: string;
  /** The source ETag written into its metadata (`OUTPUT_METADATA.sourceEtag`), the version read by If-Match. */
  sourceEtag?: string;
}

/** What a thread is asked: run a job in `environment`, or discard the outputs of the one running. */
export type ThreadRequest = { kind: 'run'; environment: Record<string, string> } | { kind: 'discard' };

/** What a thread answers: a job ended (as its process would have exited), or its outputs are discarded. */
export type ThreadReply =
  | {
      kind: 'ended';
      exitCode: number;
      /** What the process would have printed on stderr: the message of an expected failure, else the stack. */
      detail: string;
      /** On success: the statistics and the main output as stored. */
      report?: ProcessorStats;
      output?: UploadedOutput;
    }
  | { kind: 'discarded' };
