/**
 * Billable Temporal Cloud actions of a workflow, counted from its history as
 * https://docs.temporal.io/cloud/actions lists them: a start (also by signal-with-start, continue-as-new or
 * a parent), each signal, each activity scheduled and each retry of one, each timer (including those a
 * `condition` with a timeout starts), each search-attribute update (those given at the start are free), each
 * child workflow started, each signal or cancel request sent to another workflow, each local-activity marker.
 * Heartbeats are billable too but are not in a history, so they are not counted (a run shorter than its
 * heartbeat interval sends none). Two simplifications: Cloud bills local activities once per workflow task that
 * ran some, here each `core_local_activity` marker is one (the pipeline runs none); and a history keeps only
 * the last attempt's ActivityTaskStarted, so its `attempt - 1` are the retries. A pure function, with nothing
 * done at import, so tests can use it.
 */
import { temporal } from '@temporalio/proto';

const { EventType } = temporal.api.enums.v1;

/** One action each. */
const ONE_ACTION: Partial<Record<temporal.api.enums.v1.EventType, string>> = {
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED]: 'workflow started',
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW]: 'continued as new',
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]: 'signal',
  [EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]: 'activity',
  [EventType.EVENT_TYPE_TIMER_STARTED]: 'timer',
  [EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]: 'search attributes',
  [EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED]: 'child workflow',
  [EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED]: 'signal sent',
  [EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED]: 'cancel sent',
  [EventType.EVENT_TYPE_MARKER_RECORDED]: 'local activity',
};

export interface BillableActions {
  total: number;
  byType: Record<string, number>;
}

/** The billable actions in `history` (one workflow run; a child's history is counted on its own). */
export function billableActions(history: temporal.api.history.v1.IHistory): BillableActions {
  const byType: Record<string, number> = {};
  const add = (type: string) => (byType[type] = (byType[type] ?? 0) + 1);
  for (const event of history.events ?? []) {
    const type = event.eventType ?? undefined;
    const name = type === undefined ? undefined : ONE_ACTION[type];
    if (name === ONE_ACTION[EventType.EVENT_TYPE_MARKER_RECORDED]) {
      // Only local activities' markers (`patched()` markers are free).
      if (event.markerRecordedEventAttributes?.markerName === 'core_local_activity') add('local activity');
    } else if (name) {
      add(name);
    }
    // Each retry of an activity is an action; a history keeps only the last attempt's Started event.
    const retries = (event.activityTaskStartedEventAttributes?.attempt ?? 1) - 1;
    if (retries > 0) byType['activity retry'] = (byType['activity retry'] ?? 0) + retries;
  }
  return { total: Object.values(byType).reduce((a, b) => a + b, 0), byType };
}
