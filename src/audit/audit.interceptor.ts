import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  Logger,
  type NestInterceptor,
} from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import { toErrorResponse } from '../common/error-response';
import { RequestContext } from '../common/request-context';
import { AuditService } from './audit.service';
import { type AuditedOptions, auditMetadataOf } from './audited.decorator';

/**
 * Requests already handled by an AuditInterceptor: registered twice (globally and by a module),
 * it must still run one transaction and write one event per request.
 */
const handledRequests = new WeakSet<object>();

/**
 * For routes marked @Audited: runs the handler and its success event in one transaction (both
 * commit or neither), and after a failure, once the transaction has rolled back, records a failure
 * event that survives the rollback. If the success event cannot be written the change rolls back
 * and the request fails with 503 AUDIT_UNAVAILABLE. Other routes pass through untouched.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  private readonly logger = new Logger(AuditInterceptor.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const metadata = auditMetadataOf(context.getHandler(), context.getClass());
    if (metadata?.kind !== 'audited') return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (handledRequests.has(request)) return next.handle();
    handledRequests.add(request);
    const status =
      this.reflector.get<number | undefined>(HTTP_CODE_METADATA, context.getHandler()) ??
      (request.method === 'POST' ? 201 : 200);
    return defer(() => this.run(metadata.options, request, status, next));
  }

  private async run(
    options: AuditedOptions,
    request: FastifyRequest,
    status: number,
    next: CallHandler,
  ): Promise<unknown> {
    let successEventFailed = false;
    try {
      return await this.txHost.withTransaction(async (): Promise<unknown> => {
        this.context.beginAuditDetails();
        // next.handle() binds the handler to the async context it is called in (Nest wraps it in
        // AsyncResource.bind), so it must be called here, inside the transaction's context.
        const result: unknown = await lastValueFrom(next.handle() as Observable<unknown>, {
          defaultValue: undefined,
        });
        try {
          await this.audit.record({
            action: options.action,
            outcome: 'success',
            resourceType: options.resourceType,
            resourceId: this.resourceId(options, result, request),
            httpStatus: status,
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
      if (successEventFailed) throw error;
      await this.recordFailure(options, request, error);
      throw error;
    }
  }

  private async recordFailure(
    options: AuditedOptions,
    request: FastifyRequest,
    error: unknown,
  ): Promise<void> {
    const response = toErrorResponse(error);
    try {
      await this.audit.recordIndependently({
        action: options.action,
        outcome: 'failure',
        resourceType: options.resourceType,
        resourceId: this.resourceId(options, undefined, request),
        httpStatus: response.status,
        details: { code: response.code },
      });
    } catch {
      // Nothing was changed (the transaction rolled back), so the original error is the answer;
      // AuditService has logged why the event could not be written.
      this.logger.warn(`Failure event for ${options.action} could not be recorded`);
    }
  }

  private resourceId(options: AuditedOptions, result: unknown, request: FastifyRequest): string | undefined {
    if (options.resourceId === undefined) return undefined;
    try {
      return options.resourceId(result, request);
    } catch {
      return undefined;
    }
  }
}
