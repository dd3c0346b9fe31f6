import { Get, Param, Query, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces } from '@nestjs/swagger';
import { RequirePermissions } from '../authz/route-access.decorators';
import { ApiController } from '../common/api-controller.decorator';
import type { AuditEventPage, AuditEventView, AuditVerifyResult } from './audit-event';
import { AuditQueryService } from './audit-query.service';
import { AuditVerifier } from './audit-verifier.service';
import { AuditedManually } from './audited.decorator';
import { AuditEventDto, AuditEventPageDto, AuditVerifyResultDto } from './dto/audit-event.dto';
import {
  AuditEventIdParamDto,
  ExportAuditEventsQueryDto,
  ListAuditEventsQueryDto,
  VerifyAuditQueryDto,
} from './dto/audit-query.dto';

@ApiController('audit')
@ApiBearerAuth()
export class AuditController {
  constructor(
    private readonly query: AuditQueryService,
    private readonly verifier: AuditVerifier,
  ) {}

  @Get('events')
  @RequirePermissions('audit:read')
  @ApiOperation({
    summary: 'Search audit events',
    description:
      'Newest first, keyset-paginated: pass `nextCursor` as `cursor` for the next page (null at the end). ' +
      '`action` is a prefix; `from` is inclusive and `to` exclusive.',
  })
  @ApiOkResponse({ type: AuditEventPageDto })
  list(@Query() query: ListAuditEventsQueryDto): Promise<AuditEventPage> {
    return this.query.list(query);
  }

  @Get('events/:id')
  @RequirePermissions('audit:read')
  @ApiOperation({ summary: 'One audit event' })
  @ApiOkResponse({ type: AuditEventDto })
  get(@Param() { id }: AuditEventIdParamDto): Promise<AuditEventView> {
    return this.query.get(Number(id));
  }

  @Get('export')
  @RequirePermissions('audit:read')
  // The service records `audit.export` itself, before streaming.
  @AuditedManually()
  @ApiOperation({
    summary: 'Export audit events',
    description:
      'Every event matching the filters, oldest first, streamed as NDJSON (default) or CSV, as an attachment. ' +
      'CSV cells that a spreadsheet would read as formulas are prefixed with a single quote. The export is itself audited.',
  })
  @ApiProduces('application/x-ndjson', 'text/csv')
  @ApiOkResponse({ description: 'The events, one per line (NDJSON) or per record (CSV with a header)' })
  async export(@Query() { format, ...filters }: ExportAuditEventsQueryDto): Promise<StreamableFile> {
    const exported = await this.query.export(filters, format ?? 'ndjson');
    return new StreamableFile(exported.stream, {
      type: exported.contentType,
      disposition: `attachment; filename="${exported.filename}"`,
    });
  }

  @Get('verify')
  @RequirePermissions('audit:read')
  @ApiOperation({
    summary: 'Verify the hash chain',
    description:
      'Recomputes every sealed hash in chain order and checks each link, from the anchor (or, with an id range, ' +
      'from the predecessor of the first sealed row in the range). Answers the first broken row, if any.',
  })
  @ApiOkResponse({ type: AuditVerifyResultDto })
  verify(@Query() query: VerifyAuditQueryDto): Promise<AuditVerifyResult> {
    return this.verifier.verify({
      fromId: query.fromId === undefined ? undefined : Number(query.fromId),
      toId: query.toId === undefined ? undefined : Number(query.toId),
    });
  }
}
