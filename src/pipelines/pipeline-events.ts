import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { BadRequestError } from '../common/app-error';
import { ShutdownService } from '../observability/shutdown.service';
import { FINISHED_RUN_STATUSES, PipelineRunsRepository } from './pipeline-runs.repository';
import { PipelineRunsService, toItemView, toRunView } from './pipeline-runs.service';

const POLL_MS = 500;
const HEARTBEAT_MS = 15_000;
/** How soon a client should reconnect after the stream ends early (this replica shutting down). */
const RETRY_MS = 1_000;
const BATCH = 500;

/**
 * The run's progress as server-sent events, derived from stored rows so that any replica can serve
 * it: `snapshot` (the run with its counts), then an `item` event per item status change (its id is the
 * change's sequence number, so `Last-Event-ID` resumes exactly after it) followed by `progress` with
 * the counts, a heartbeat comment every 15 s, and `done` once the run has finished and no item is
 * still running. When this replica shuts down the stream ends at once (cleanly, after a complete
 * event): the client reconnects, to another replica, with `Last-Event-ID`.
 */
@Injectable()
export class PipelineEvents {
  constructor(
    private readonly runs: PipelineRunsRepository,
    private readonly service: PipelineRunsService,
    private readonly shutdown: ShutdownService,
  ) {}

  async stream(runId: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const lastEventId = request.headers['last-event-id'];
    if (lastEventId !== undefined && !/^\d{1,19}$/.test(String(lastEventId))) {
      throw new BadRequestError('INVALID_LAST_EVENT_ID', 'Last-Event-ID must be an id this stream sent.');
    }
    const run = await this.service.require(runId);
    let cursor = lastEventId === undefined ? await this.latestSeq(runId) : String(lastEventId);

    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let open = true;
    raw.on('close', () => (open = false));
    const send = (event: string, data: unknown, id?: string) => {
      if (!open) return;
      raw.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    raw.write(`retry: ${RETRY_MS}\n\n`);
    send('snapshot', toRunView(run, await this.runs.progress(runId)), cursor);
    let lastBeat = Date.now();
    try {
      const stopping = this.shutdown.signal;
      while (open && !stopping.aborted) {
        const changed = await this.runs.itemsChangedAfter(runId, cursor, BATCH);
        for (const item of changed) {
          send('item', toItemView(item), item.eventSeq);
          cursor = item.eventSeq;
        }
        const current = await this.service.require(runId);
        const progress = await this.runs.progress(runId);
        const { counts } = progress;
        if (changed.length > 0) send('progress', { status: current.status, counts }, cursor);
        if (
          changed.length < BATCH &&
          FINISHED_RUN_STATUSES.includes(current.status) &&
          counts.running === 0
        ) {
          send('done', toRunView(current, progress), cursor);
          break;
        }
        if (Date.now() - lastBeat >= HEARTBEAT_MS) {
          if (open) raw.write(': heartbeat\n\n');
          lastBeat = Date.now();
        }
        if (changed.length < BATCH)
          await sleep(POLL_MS, undefined, { signal: stopping }).catch(() => undefined);
      }
    } finally {
      raw.end();
    }
  }

  private latestSeq(runId: string): Promise<string> {
    return this.runs.maxEventSeq(runId);
  }
}
