import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditService } from '../audit/audit.service';
import { NotFoundError } from '../common/app-error';
import { type Principal, RequestContext } from '../common/request-context';
import { IdempotencyService, type StoredResponse } from '../idempotency/idempotency.service';
import { JobEngine } from '../jobs/job-engine';
import { LlmError } from './llm-errors';
import { LlmPullsRepository, type PullRow, type PullStatus } from './llm-pulls.repository';
import { recordLlmFailure } from './llm-models.service';
import { LlmService, providerLabel } from './llm.service';
import type { LlmProviderName, PullProgress } from './llm.types';
import { unsupported } from './openai.provider';

/** Progress reaches the database at most this often. */
const PROGRESS_WRITE_MS = 500;
/** Without progress, the running replica still says it is alive this often. */
const HEARTBEAT_MS = 10_000;
/** A pull that reports nothing for this long is abandoned. */
const PULL_IDLE_TIMEOUT_MS = 5 * 60_000;
/** How often an event stream reads the pull. */
const STREAM_POLL_MS = 500;
/** A comment line keeps idle streams open through proxies. */
const STREAM_HEARTBEAT_MS = 15_000;
/** The browser's reconnect delay (EventSource `retry`). */
const STREAM_RETRY_MS = 3_000;
/** How long shutdown waits for interrupted pulls to record that they failed. */
const SHUTDOWN_WAIT_MS = 3_000;
/** Finished pulls are forgotten after this many days. */
const RETENTION_DAYS = 30;

const INTERRUPTED =
  'The pull was interrupted (the service instance running it stopped); start it again: layers already downloaded are kept.';

const PULL_PRINCIPAL: Principal = {
  kind: 'system',
  id: 'llm-pull',
  label: 'model pull',
  permissions: new Set<string>(),
};

export interface PullStarted {
  id: string;
  status: PullStatus;
  model: string;
}

export interface PullView {
  id: string;
  model: string;
  provider: LlmProviderName;
  status: PullStatus;
  /** `status` is the provider's phase (`pulling manifest`, `verifying sha256 digest`...); bytes over all layers. */
  progress: { status: string | null; completed: number; total: number; percent: number | null };
  error: string | null;
  createdBy: { type: string; id: string | null; label: string | null };
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** An open event stream: what to send, and how to stop it when the client goes. */
export interface PullEventStream {
  readonly readable: Readable;
  close(): void;
}

/**
 * Model pulls: started here (202), run in the background on the replica that accepted them, their
 * progress written to `llm_pulls` so that any replica's event stream can follow it.
 */
@Injectable()
export class LlmPullsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(LlmPullsService.name);
  private readonly running = new Map<string, { controller: AbortController; task: Promise<void> }>();
  private readonly streams = new Set<AbortController>();

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly pulls: LlmPullsRepository,
    private readonly llm: LlmService,
    private readonly idempotency: IdempotencyService,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
    private readonly jobs: JobEngine,
  ) {}

  onModuleInit(): void {
    this.jobs.define({
      name: 'llm-pulls-prune',
      retryLimit: 0,
      retryDelaySeconds: 60,
      expireInSeconds: 300,
      concurrency: 1,
      cron: '41 3 * * *',
      handler: async () => {
        await this.pulls.deleteFinishedBefore(RETENTION_DAYS);
      },
    });
  }

  /** Stops event streams and interrupts this replica's pulls, which record that they failed. */
  async onModuleDestroy(): Promise<void> {
    for (const stream of this.streams) stream.abort();
    const tasks = [...this.running.values()].map(({ controller, task }) => {
      controller.abort(new Error('shutdown'));
      return task;
    });
    if (tasks.length > 0) await Promise.race([Promise.allSettled(tasks), sleep(SHUTDOWN_WAIT_MS)]);
  }

  /** Event streams open on this replica. */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Starts pulling `model` (202). A pull of the same model that is already under way is joined
   * instead of started twice. Refused with 503 before anything is recorded when the provider is down.
   */
  async start(model: string, idempotencyKey: string | undefined): Promise<StoredResponse<PullStarted>> {
    let launched: PullRow | undefined;
    try {
      if (this.llm.provider !== 'ollama') throw unsupported('pull models');
      await this.llm.ensureReachable();
      const response = await this.idempotency.run(idempotencyKey, 'llm-pull', { model }, () =>
        this.txHost.withTransaction(async () => {
          const { row, created } = await this.claim(model);
          await this.audit.record({
            action: 'llm.pull',
            outcome: 'success',
            resourceType: 'llm_model',
            resourceId: model,
            httpStatus: 202,
            details: { pullId: row.id, joined: !created },
          });
          if (created) launched = row;
          return {
            status: 202,
            body: { id: row.id, status: row.status, model: row.model },
            location: `/api/v1/llm/pulls/${row.id}`,
          };
        }),
      );
      // Launched only once the pull row is committed, so the background writer finds it.
      if (launched !== undefined && !response.replayed) this.launch(launched);
      return response;
    } catch (error) {
      await recordLlmFailure(this.audit, 'llm.pull', model, error);
      throw error;
    }
  }

  async get(id: string): Promise<PullView> {
    return toView(await this.current(id));
  }

  /**
   * The pull as server-sent events: `snapshot` (the pull), `progress` at every stored change,
   * `done` at the end; each event's id is the pull's `seq`. With `lastEventId` equal to the current
   * seq the snapshot is skipped; for a finished pull whose `done` the client has seen, `finished`
   * (answered 204, which tells EventSource to stop reconnecting).
   */
  async openEvents(id: string, lastEventId: number | undefined): Promise<PullEventStream | 'finished'> {
    const first = await this.current(id);
    if (isFinished(first.status) && lastEventId !== undefined && lastEventId >= first.seq) return 'finished';
    const controller = new AbortController();
    this.streams.add(controller);
    const frames = this.frames(first, lastEventId, controller.signal);
    const readable = Readable.from(frames, { objectMode: false });
    const close = () => {
      controller.abort();
      this.streams.delete(controller);
    };
    readable.once('close', close);
    return { readable, close };
  }

  private async *frames(
    first: PullRow,
    lastEventId: number | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<string> {
    yield `retry: ${STREAM_RETRY_MS}\n\n`;
    let row = first;
    if (lastEventId !== row.seq) yield frame('snapshot', row.seq, toView(row));
    let sentSeq = row.seq;
    let lastWrite = Date.now();
    while (!isFinished(row.status)) {
      // Aborted when the client goes or the service stops: no further reads.
      await sleep(STREAM_POLL_MS, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      row = await this.current(row.id);
      if (row.seq !== sentSeq && !isFinished(row.status)) {
        yield frame('progress', row.seq, progressOf(row));
        sentSeq = row.seq;
        lastWrite = Date.now();
      } else if (Date.now() - lastWrite >= STREAM_HEARTBEAT_MS) {
        yield ': heartbeat\n\n';
        lastWrite = Date.now();
      }
    }
    yield frame('done', row.seq, {
      status: row.status,
      ...(row.error === null ? {} : { error: row.error }),
      completed: row.completed,
      total: row.total,
    });
  }

  /** The pull, after failing it if the replica running it has gone silent. */
  private async current(id: string): Promise<PullRow> {
    const row = await this.pulls.find(id);
    if (row === undefined) throw new NotFoundError('LLM_PULL_NOT_FOUND', `No model pull with id ${id}.`);
    if (!row.stale) return row;
    await this.pulls.failIfStale(id, INTERRUPTED);
    return (await this.pulls.find(id)) ?? row;
  }

  /** The model's active pull, or a new one; a stale active pull is failed first. */
  private async claim(model: string): Promise<{ row: PullRow; created: boolean }> {
    const provider = this.llm.provider;
    for (let attempt = 0; attempt < 3; attempt++) {
      const active = await this.pulls.findActive(provider, model);
      if (active !== undefined && !active.stale) return { row: active, created: false };
      if (active !== undefined) await this.pulls.failIfStale(active.id, INTERRUPTED);
      const inserted = await this.pulls.insert(
        provider,
        model,
        this.context.principal,
        this.context.requestId,
      );
      if (inserted !== undefined) return { row: inserted, created: true };
    }
    // Another replica started and finished pulls of this model three times in between: join none.
    throw new LlmError('LLM_PROVIDER_ERROR', `Could not start a pull of ${model}; try again.`);
  }

  private launch(row: PullRow): void {
    const controller = new AbortController();
    const task = this.context
      .run(() => this.runPull(row, controller.signal), {
        principal: PULL_PRINCIPAL,
        ...(row.requestId === null ? {} : { requestId: row.requestId }),
      })
      .catch((error: unknown) =>
        this.logger.error(
          `Pull ${row.id} of ${row.model} could not be recorded: ${(error as Error).message}`,
        ),
      )
      .finally(() => this.running.delete(row.id));
    this.running.set(row.id, { controller, task });
  }

  private async runPull(row: PullRow, shutdown: AbortSignal): Promise<void> {
    await this.pulls.markRunning(row.id);
    let latest: PullProgress | undefined;
    let dirty = false;
    let lastWrite = Date.now();
    let writes: Promise<void> = Promise.resolve();
    let writing = false;
    // One write at a time, in order; a slow database skips ticks rather than queueing writes. A
    // failed write is logged, not fatal: the next carries newer state, and a replica that cannot
    // write at all goes stale and its pull is failed by readers.
    const write = (operation: () => Promise<void>) => {
      lastWrite = Date.now();
      writing = true;
      writes = writes
        .then(operation)
        .catch((error: unknown) =>
          this.logger.warn(`Progress of pull ${row.id} not recorded: ${(error as Error).message}`),
        )
        .finally(() => (writing = false));
    };
    const ticker = setInterval(() => {
      if (writing) return;
      if (dirty && latest !== undefined) {
        const progress = latest;
        dirty = false;
        write(() => this.pulls.progress(row.id, progress));
      } else if (Date.now() - lastWrite >= HEARTBEAT_MS) {
        write(() => this.pulls.heartbeat(row.id));
      }
    }, PROGRESS_WRITE_MS);
    ticker.unref();
    const idle = new AbortController();
    const idleTimer = setTimeout(
      () => idle.abort(new DOMException('no progress', 'TimeoutError')),
      PULL_IDLE_TIMEOUT_MS,
    );
    idleTimer.unref();
    let outcome: { status: 'succeeded' | 'failed'; error: string | null };
    try {
      await this.llm.pull(
        row.model,
        (progress) => {
          latest = progress;
          dirty = true;
          idleTimer.refresh();
        },
        AbortSignal.any([shutdown, idle.signal]),
      );
      outcome = { status: 'succeeded', error: null };
    } catch (error) {
      outcome = { status: 'failed', error: this.failureMessage(row, error, shutdown, idle.signal) };
      this.logger.warn(`Pull ${row.id} of ${row.model} failed: ${outcome.error}`);
    } finally {
      clearInterval(ticker);
      clearTimeout(idleTimer);
    }
    await writes;
    await this.pulls.finish(row.id, outcome.status, outcome.error, latest);
  }

  private failureMessage(row: PullRow, error: unknown, shutdown: AbortSignal, idle: AbortSignal): string {
    if (shutdown.aborted) return INTERRUPTED;
    if (idle.aborted) {
      return `${providerLabel(row.provider)} reported no progress for ${PULL_IDLE_TIMEOUT_MS / 60_000} minutes; the pull was abandoned.`;
    }
    return error instanceof LlmError ? error.message : 'The pull failed unexpectedly.';
  }
}

function isFinished(status: PullStatus): boolean {
  return status === 'succeeded' || status === 'failed';
}

function frame(event: string, id: number, data: unknown): string {
  return `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function progressOf(row: PullRow): PullView['progress'] {
  return {
    status: row.phase ?? row.status,
    completed: row.completed,
    total: row.total,
    percent: row.total > 0 ? Math.min(100, Math.floor((row.completed / row.total) * 1000) / 10) : null,
  };
}

function toView(row: PullRow): PullView {
  return {
    id: row.id,
    model: row.model,
    provider: row.provider,
    status: row.status,
    progress: { ...progressOf(row), status: row.phase },
    error: row.error,
    createdBy: { type: row.actorType, id: row.actorId, label: row.actorLabel },
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}
