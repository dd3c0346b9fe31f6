import type { AppConfig } from '../config/app-config';

const DAY_MS = 24 * 60 * 60 * 1000;

/** One kind of record to prune: how many days to keep, and the instant before which rows go. */
export interface RetentionWindow {
  readonly days: number;
  readonly cutoff: Date;
}

/** The kinds a prune removes this time; a kind whose setting is unset is absent (kept forever). */
export interface RetentionPlan {
  readonly changes?: RetentionWindow;
  readonly pipelineItems?: RetentionWindow;
}

export function retentionPlan(retention: AppConfig['retention'], now: Date): RetentionPlan {
  return {
    ...(retention.changesDays === undefined ? {} : { changes: windowOf(retention.changesDays, now) }),
    ...(retention.pipelineItemsDays === undefined
      ? {}
      : { pipelineItems: windowOf(retention.pipelineItemsDays, now) }),
  };
}

export function isEmptyPlan(plan: RetentionPlan): boolean {
  return plan.changes === undefined && plan.pipelineItems === undefined;
}

function windowOf(days: number, now: Date): RetentionWindow {
  return { days, cutoff: new Date(now.getTime() - days * DAY_MS) };
}
