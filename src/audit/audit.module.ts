import { Global, Module } from '@nestjs/common';
import { AuditQueryService } from './audit-query.service';
import { AuditRetention } from './audit-retention.service';
import { AuditSealer } from './audit-sealer.service';
import { AuditVerifier } from './audit-verifier.service';
import { AuditController } from './audit.controller';
import { AuditInterceptor } from './audit.interceptor';
import { AuditedWork } from './audited-work';
import { AUDIT_OPTIONS, DEFAULT_AUDIT_OPTIONS } from './audit.options';
import { AuditRepository } from './audit.repository';
import { AuditService } from './audit.service';

/**
 * The audit trail: writing (AuditService, AuditInterceptor), sealing, verification, retention and
 * the query API. Global so that every feature can record events without importing it. Relies on
 * the global DataSource, TransactionHost, RequestContext and APP_CONFIG.
 */
@Global()
@Module({
  controllers: [AuditController],
  providers: [
    { provide: AUDIT_OPTIONS, useValue: DEFAULT_AUDIT_OPTIONS },
    AuditRepository,
    AuditService,
    AuditSealer,
    AuditVerifier,
    AuditRetention,
    AuditQueryService,
    AuditedWork,
    AuditInterceptor,
  ],
  exports: [
    AuditService,
    AuditedWork,
    AuditVerifier,
    AuditSealer,
    AuditRetention,
    AuditQueryService,
    AuditInterceptor,
  ],
})
export class AuditModule {}
