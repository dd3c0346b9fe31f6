import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable, Logger } from '@nestjs/common';
import { toErrorResponse } from '../common/error-response';
import { RequestContext } from '../common/request-context';
import { AuditService } from './audit.service';

export interface AuditedWorkOptions<T> {
  readonly action: string;
  readonly resourceType?: string;
  /** The affected resource's id: from the result on success, `undefined` on failure. A throw counts as no id. */
  readonly resourceId?: (result: T | undefined) => string | undefined;
  /** The status the success event records. */
  readonly successStatus: number;
}

/**
 * A state change and its audit event as one unit: the work and its success event run in one
 * transaction (both commit or neither), with the details the work added through
 * `RequestContext.addAuditDetails`; after a failure, once the transaction has rolled back, a failure
 * event is recorded that survives the rollback. If the success event cannot be written the change
 * rolls back and the caller gets 503 AUDIT_UNAVAILABLE. Used by @Audited routes and by tools.
 */
@Injectable()
export class AuditedWork {
  private readonly logger = new Logger(AuditedWork.name);

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
  ) {}

  async run<T>(options: AuditedWorkOptions<T>, work: () => Promise<T>): Promise<T> {
    let successEventFailed = false;
    try {
      return await this.txHost.withTransaction(async (): Promise<T> => {
        this.context.beginAuditDetails();
        const result = await work();
        try {
          await this.audit.record({
            action: options.action,
            outcome: 'success',
            resourceType: options.resourceType,
            resourceId: idOf(options, result),
            httpStatus: options.successStatus,
            details: this.context.auditDetails,
          });
        } catch (error) {
          successEventFailed = true;
          throw error;
        }
        return result;
      });
    } catch (error) {
      // The audit store refused the success event: the change is rolled back and the 503 stands;
      // a failure event would fail the same way.
      if (!successEventFailed) await this.recordFailure(options, error);
      throw error;
    }
  }

  private async recordFailure<T>(options: AuditedWorkOptions<T>, error: unknown): Promise<void> {
    const response = toErrorResponse(error);
    try {
      await this.audit.recordIndependently({
        action: options.action,
        outcome: 'failure',
        resourceType: options.resourceType,
        resourceId: idOf(options, undefined),
        httpStatus: response.status,
        details: { code: response.code },
      });
    } catch {
      // Nothing was changed (the transaction rolled back), so the original error is the answer;
      // AuditService has logged why the event could not be written.
      this.logger.warn(`Failure event for ${options.action} could not be recorded`);
    }
  }
}

function idOf<T>(options: AuditedWorkOptions<T>, result: T | undefined): string | undefined {
  if (options.resourceId === undefined) return undefined;
  try {
    return options.resourceId(result);
  } catch {
    return undefined;
  }
}
