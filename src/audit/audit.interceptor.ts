import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import { type AuditedOptions, auditMetadataOf } from './audited.decorator';
import { AuditedWork } from './audited-work';

/**
 * Requests already handled by an AuditInterceptor: registered twice (globally and by a module),
 * it must still run one transaction and write one event per request.
 */
const handledRequests = new WeakSet<object>();

/**
 * For routes marked @Audited: runs the handler as an AuditedWork unit (the change and its success
 * event commit together; a failure is recorded after the rollback). Other routes pass through.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly work: AuditedWork,
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

  private run(
    options: AuditedOptions,
    request: FastifyRequest,
    status: number,
    next: CallHandler,
  ): Promise<unknown> {
    return this.work.run(
      {
        action: options.action,
        resourceType: options.resourceType,
        resourceId:
          options.resourceId === undefined ? undefined : (result) => options.resourceId?.(result, request),
        successStatus: status,
      },
      // next.handle() binds the handler to the async context it is called in (Nest wraps it in
      // AsyncResource.bind), so it must be called here, inside the transaction's context.
      () => lastValueFrom(next.handle() as Observable<unknown>, { defaultValue: undefined }),
    );
  }
}
