/**
 * The SQS messages of one file: every notification of it (duplicates included) signalled by the ingress,
 * kept invisible while the file runs, deleted once its output is verified (docs/architecture.md,
 * "Acknowledge after verify"), released or dead-lettered when it fails.
 */
import { condition, isCancellation, setHandler } from '@temporalio/workflow';
import { DEFAULTS } from '../contract/defaults';
import { messageReceivedSignal, type ProcessFileOptions, type QueueMessage } from '../contract/workflow';
import { messageCount, quick } from './activity-options';

/** Which messages the file answers for and which of them are deleted: no Temporal API, tested alone. */
export class MessageBook {
  /** Messages by id, each with its latest receipt handle; duplicates of one notification all land here. */
  private readonly messages = new Map<string, QueueMessage>();
  /**
   * The receipt handle each message was deleted with. A message received again meanwhile (its hand-over
   * was retried) has a newer handle, and only that one deletes it: it is pending again.
   */
  private readonly deleted = new Map<string, string>();

  /** A message received, maybe again: the latest receipt wins. Returns how many messages the file has. */
  receive(m: QueueMessage): number {
    const known = this.messages.get(m.messageId);
    if (!known || m.receiveCount >= known.receiveCount) this.messages.set(m.messageId, m);
    return this.messages.size;
  }

  /** The messages not yet deleted with their latest receipt handle. */
  pending(): QueueMessage[] {
    return [...this.messages.values()].filter((m) => this.deleted.get(m.messageId) !== m.receiptHandle);
  }

  acknowledged(batch: readonly QueueMessage[]): void {
    for (const m of batch) this.deleted.set(m.messageId, m.receiptHandle);
  }

  get acknowledgedCount(): number {
    return this.deleted.size;
  }
}

/**
 * Receives the file's messages (the `messageReceived` signal) and renews their visibility every third of
 * the timeout until `stopKeeper`: a file that takes less than that costs no extension at all.
 */
export function trackMessages(options: ProcessFileOptions, onCount: (messages: number) => void) {
  const visibilitySeconds = options.visibilityTimeoutSeconds ?? DEFAULTS.visibilityTimeoutSeconds;
  const book = new MessageBook();
  setHandler(messageReceivedSignal, (m) => onCount(book.receive(m)));

  let finished = false;
  const keeper = (async () => {
    try {
      while (!(await condition(() => finished, `${Math.floor(visibilitySeconds / 3)} seconds`))) {
        const batch = book.pending();
        if (batch.length === 0) continue;
        try {
          await quick.extendVisibility.executeWithOptions(
            { summary: `keep ${messageCount(batch.length)} invisible ${visibilitySeconds} s more` },
            [batch, visibilitySeconds],
          );
        } catch (err) {
          // A failed extension only risks an early redelivery, which the workflow ID absorbs.
          if (isCancellation(err)) throw err;
        }
      }
    } catch (err) {
      // A cancelled workflow stops keeping its messages; the main flow releases them.
      if (!isCancellation(err)) throw err;
    }
  })();

  return {
    book,
    /** Stops renewing the messages' visibility. */
    async stopKeeper(): Promise<void> {
      finished = true;
      await keeper;
    },
    /** Deletes every message, including any that arrives while deleting. */
    async acknowledgeAll(): Promise<void> {
      for (let batch = book.pending(); batch.length > 0; batch = book.pending()) {
        await quick.acknowledge.executeWithOptions({ summary: `acknowledge ${messageCount(batch.length)}` }, [
          batch,
        ]);
        book.acknowledged(batch);
      }
    },
  };
}

export type FileMessages = ReturnType<typeof trackMessages>;
