import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { toErrorResponse } from '../common/error-response';
import { LlmService } from './llm.service';

const logger = new Logger('LlmAudit');

/**
 * Records the failure of a model operation after the fact (its own commit, outside any
 * transaction), as the audit interceptor does for @Audited routes.
 */
export async function recordLlmFailure(
  audit: AuditService,
  action: 'llm.pull' | 'llm.delete',
  model: string,
  error: unknown,
): Promise<void> {
  const response = toErrorResponse(error);
  try {
    await audit.recordIndependently({
      action,
      outcome: 'failure',
      resourceType: 'llm_model',
      resourceId: model,
      httpStatus: response.status,
      details: { code: response.code },
    });
  } catch {
    logger.warn(`Failure event for ${action} could not be recorded`);
  }
}

/**
 * Audited model administration. The provider is called outside a database transaction (a slow
 * provider must not hold a connection), so events are recorded here rather than by @Audited.
 */
@Injectable()
export class LlmModelsService {
  constructor(
    private readonly llm: LlmService,
    private readonly audit: AuditService,
  ) {}

  async delete(model: string): Promise<void> {
    try {
      await this.llm.deleteModel(model);
    } catch (error) {
      await recordLlmFailure(this.audit, 'llm.delete', model, error);
      throw error;
    }
    await this.audit.record({
      action: 'llm.delete',
      outcome: 'success',
      resourceType: 'llm_model',
      resourceId: model,
      httpStatus: 204,
    });
  }
}
