import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable, Logger, Optional } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { ServiceUnavailableError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import { type AuditWriteMode, MetricsService } from '../observability/metrics.service';
import type { NewAuditEvent } from './audit-event';
import { sanitizeDetails, storableText } from './audit-redaction';
import { AuditRepository } from './audit.repository';
import type { AuditActor, AuditEventInput } from './audit.types';

/** Bounds for the free-text columns: an event is a record, not a place to park a payload. */
const MAX_LENGTH = {
  requestId: 128,
  actorId: 200,
  actorLabel: 320,
  resourceType: 100,
  resourceId: 500,
  ip: 64,
  userAgent: 512,
} as const;

/** Events written outside a transaction in the same turn of the event loop share one INSERT. */
const MAX_BATCH = 500;

interface PendingWrite {
  readonly row: NewAuditEvent;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

function text(value: string | undefined | null, max: number): string | null {
  if (value === undefined || value === null || value === '') return null;
  return storableText(value).slice(0, max);
}

export function auditUnavailable(): ServiceUnavailableError {
  return new ServiceUnavailableError(
    'AUDIT_UNAVAILABLE',
    'The audit trail cannot be written; the action was not performed.',
  );
}

/**
 * Writes audit events. Privileged actions fail closed: when an event cannot be written, the caller
 * gets 503 AUDIT_UNAVAILABLE and, inside a transaction, its change rolls back with the event.
 */
@Injectable()
export class AuditService {
  private readonly logger = new Logger(AuditService.name);
  private pending: PendingWrite[] = [];
  private flushScheduled = false;

  constructor(
    private readonly repository: AuditRepository,
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly context: RequestContext,
    // Absent where the audit trail runs without the HTTP service (the CLIs): nothing is measured there.
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  /**
   * Records an event in the caller's transaction when there is one, so the change and its event
   * commit or roll back together; otherwise on its own.
   */
  async record(event: AuditEventInput): Promise<void> {
    const row = this.toRow(event);
    const mode: AuditWriteMode = this.txHost.isTransactionActive() ? 'in_transaction' : 'grouped';
    try {
      if (mode === 'in_transaction') await this.timed(mode, () => this.repository.insert(row));
      else await this.writeGrouped(row);
    } catch (error) {
      throw this.failed(row, error, mode);
    }
  }

  /**
   * Records an event that must survive the caller's rollback (denials, failures), committed at once.
   *
   * It needs a second database connection while the caller's transaction holds one: on the embedded
   * database (one connection) call it only after the caller's transaction has ended, never inside
   * one; there it is refused straight away instead of waiting for a connection that cannot come. On
   * a server, calling it inside a transaction works but holds two pool connections for a moment.
   */
  async recordIndependently(event: AuditEventInput): Promise<void> {
    const row = this.toRow(event);
    if (this.txHost.isTransactionActive() && this.repository.usesSingleConnection()) {
      throw this.failed(
        row,
        new Error('recordIndependently was called inside a transaction on a single-connection database'),
        'grouped',
      );
    }
    try {
      await this.writeGrouped(row);
    } catch (error) {
      throw this.failed(row, error, 'grouped');
    }
  }

  /**
   * Outside any transaction an INSERT commits by itself, so concurrent writers can share one: the
   * events queued in one turn of the event loop go out as one multi-row INSERT and one commit, and
   * each caller learns only once its event is committed. Should the shared INSERT fail, each event
   * is retried alone, so that one bad event cannot take the others down with it.
   */
  private writeGrouped(row: NewAuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending.splice(0, MAX_BATCH);
    if (this.pending.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
    const insert = (rows: NewAuditEvent[]) =>
      this.timed('grouped', () => this.txHost.withoutTransaction(() => this.repository.insertMany(rows)));
    try {
      await insert(batch.map((write) => write.row));
      for (const write of batch) write.resolve();
    } catch (error) {
      if (batch.length === 1) {
        batch[0].reject(error);
        return;
      }
      for (const write of batch) {
        await insert([write.row]).then(write.resolve, write.reject);
      }
    }
  }

  /** One INSERT statement, timed whether it succeeds or not. */
  private async timed(mode: AuditWriteMode, write: () => Promise<void>): Promise<void> {
    const started = performance.now();
    try {
      await write();
    } finally {
      this.metrics?.observeAuditWrite(mode, (performance.now() - started) / 1000);
    }
  }

  private toRow(event: AuditEventInput): NewAuditEvent {
    const actor = event.actor ?? this.actorFromContext();
    const client = this.context.client;
    const status = event.httpStatus;
    return {
      requestId: text(this.context.requestId, MAX_LENGTH.requestId),
      actorType: actor.type,
      actorId: text(actor.id, MAX_LENGTH.actorId),
      actorLabel: text(actor.label, MAX_LENGTH.actorLabel),
      action: event.action,
      resourceType: text(event.resourceType, MAX_LENGTH.resourceType),
      resourceId: text(event.resourceId, MAX_LENGTH.resourceId),
      outcome: event.outcome,
      httpStatus:
        status !== undefined && Number.isInteger(status) && status >= 100 && status <= 599 ? status : null,
      ip: text(client?.ip, MAX_LENGTH.ip),
      userAgent: text(client?.userAgent, MAX_LENGTH.userAgent),
      details: sanitizeDetails(event.details),
    };
  }

  private actorFromContext(): AuditActor {
    const principal = this.context.principal;
    if (principal === undefined) return { type: 'anonymous' };
    switch (principal.kind) {
      case 'user':
        return { type: 'user', id: principal.id, label: principal.label };
      case 'api_key':
        return { type: 'api_key', id: principal.id, label: principal.label };
      case 'system':
        return { type: 'system', id: principal.id, label: principal.label };
    }
  }

  private failed(row: NewAuditEvent, cause: unknown, mode: AuditWriteMode): ServiceUnavailableError {
    this.metrics?.observeAuditWriteFailure(mode);
    // The cause names the constraint or connection problem; the details stay out of the log.
    this.logger.error(
      `Could not write audit event ${row.action} (${row.outcome}): ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    return auditUnavailable();
  }
}
