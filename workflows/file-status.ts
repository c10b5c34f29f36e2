/**
 * Where a file's workflow shows how it goes: the `progress` query, the search attributes (the workflow
 * list's filters) and the current details on its page in the Temporal UI. Search attributes cost a history
 * event per update, so they change at few points; the query and the details follow every step for free.
 */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { progressQuery, SA, type ChunkCounts, type Progress, type Stage } from '../contract/workflow';
import { fileDetails } from './file-details';

export class FileStatus {
  readonly progress: Progress = { stage: 'received', messages: 0 };
  /** Attributes noted since the last update, shown with the next stage that is shown. */
  private noted: SearchAttributeUpdatePair[] = [];

  constructor() {
    setHandler(progressQuery, () => this.progress);
    this.refresh();
  }

  /** Adds what the file's steps found to the query and the details. */
  set(fields: Partial<Progress>): void {
    Object.assign(this.progress, fields);
    this.refresh();
  }

  /** Attributes to show with the next stage shown (one update for both). */
  note(...attributes: SearchAttributeUpdatePair[]): void {
    this.noted.push(...attributes);
  }

  /** The stage, in the query and the details only. */
  stage(stage: Stage): void {
    this.set({ stage });
  }

  /** The stage, shown in the `Stage` search attribute too, with the noted attributes and `attributes`. */
  show(stage: Stage, ...attributes: SearchAttributeUpdatePair[]): void {
    this.stage(stage);
    upsertSearchAttributes([{ key: SA.stage, value: stage }, ...this.noted, ...attributes]);
    this.noted = [];
  }

  /** A chunked file's chunk counts, in all three places. */
  chunks(counts: ChunkCounts): void {
    this.set({ chunks: { ...counts } });
    upsertSearchAttributes([
      { key: SA.itemsTotal, value: counts.total },
      { key: SA.itemsDone, value: counts.done + counts.reused },
      { key: SA.itemsFailed, value: counts.failed },
    ]);
  }

  private refresh(): void {
    setCurrentDetails(fileDetails(this.progress));
  }
}
