import { call } from './http';
import type { ThrowawayPostgres } from './throwaway-postgres';

/** One PATCH the load sent: its request id, and the status (0 when no answer came). */
export interface Edit {
  readonly requestId: string;
  readonly status: number;
  readonly code?: string;
  /** When the answer came (ms since the epoch). */
  readonly at: number;
}

/**
 * Steady product edits: one worker per product (so edits of a product never race each other),
 * each sending `PATCH /api/v1/products/:id` with the ETag it last saw to the replicas in turn.
 */
export class ProductEdits {
  readonly edits: Edit[] = [];
  /** Statuses of the reads (GET of the product for a fresh ETag). */
  readonly reads: number[] = [];
  private stopped = false;
  private running: Promise<void>[] = [];

  constructor(
    private readonly urls: () => string[],
    private readonly token: string,
    private readonly productIds: number[],
    private readonly pauseMs = 20,
  ) {}

  start(): void {
    this.running = this.productIds.map((id, worker) => this.work(id, worker));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  statusCounts(from = 0, to = Number.POSITIVE_INFINITY): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const edit of this.edits.filter((e) => e.at >= from && e.at < to)) {
      const key = edit.code === undefined ? String(edit.status) : `${edit.status} ${edit.code}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  private async work(productId: number, worker: number): Promise<void> {
    let etag: string | undefined;
    let turn = worker;
    for (let n = 0; !this.stopped; n++) {
      const urls = this.urls();
      const url = urls[turn++ % urls.length];
      if (etag === undefined) {
        const answer = await call(url, 'GET', `/api/v1/products/${productId}`, { token: this.token });
        this.reads.push(answer.status);
        etag = answer.status === 200 ? (answer.headers.get('etag') ?? undefined) : undefined;
        if (etag === undefined) await pause(100);
        continue;
      }
      const answer = await call(url, 'PATCH', `/api/v1/products/${productId}`, {
        token: this.token,
        headers: { 'if-match': etag },
        body: { title: `Walnut Desk Lamp ${productId} edit ${worker}-${n}` },
      });
      const code = (answer.body as { error?: { code?: string } } | undefined)?.error?.code;
      this.edits.push({
        requestId: answer.requestId,
        status: answer.status,
        at: Date.now(),
        ...(code === undefined ? {} : { code }),
      });
      etag = answer.status === 200 ? (answer.headers.get('etag') ?? undefined) : undefined;
      await pause(this.pauseMs);
    }
  }
}

/**
 * Joins the edits with the audit trail and the change history by request id:
 * - every 2xx edit has exactly one `product.update` success event;
 * - an edit answered with an error has none;
 * - whatever the answer (or none), a success event exists exactly when the edit's change records
 *   committed: no success event for a change that did not commit, and no committed change without one.
 */
export async function joinWithAudit(
  postgres: ThrowawayPostgres,
  edits: Edit[],
): Promise<{ checked: number; problems: string[] }> {
  const ids = edits.map((edit) => edit.requestId);
  const events = await postgres.query<{ request_id: string; outcome: string; n: string }>(
    `SELECT request_id, outcome, count(*) AS n FROM audit_events
      WHERE action = 'product.update' AND request_id = ANY($1) GROUP BY request_id, outcome`,
    [ids],
  );
  const changes = await postgres.query<{ request_id: string }>(
    `SELECT DISTINCT request_id FROM changes WHERE request_id = ANY($1)`,
    [ids],
  );
  const successes = new Map<string, number>();
  for (const row of events) if (row.outcome === 'success') successes.set(row.request_id, Number(row.n));
  const committed = new Set(changes.map((row) => row.request_id));
  const problems: string[] = [];
  for (const edit of edits) {
    const success = successes.get(edit.requestId) ?? 0;
    const what = `edit ${edit.requestId} (status ${edit.status}${edit.code ? ` ${edit.code}` : ''})`;
    if (success > 1) problems.push(`${what}: ${success} success events`);
    if (edit.status >= 200 && edit.status < 300 && success !== 1) problems.push(`${what}: no success event`);
    if (edit.status >= 400 && success > 0)
      problems.push(`${what}: answered an error but has a success event`);
    if (success > 0 !== committed.has(edit.requestId)) {
      problems.push(`${what}: success event ${success > 0 ? 'without' : 'missing for'} committed changes`);
    }
  }
  return { checked: edits.length, problems };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
