import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { ISO_WITH_ZONE } from '../../common/page-query.dto';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, type AuditExportFormat } from '../audit-query.service';
import type { AuditOutcome } from '../audit.types';

/** Decimal ids without sign, leading zeros or exponent (`Number()` would accept `0x10` and `1e3`). */
const ID = /^[1-9][0-9]{0,15}$/;
const OUTCOMES: readonly AuditOutcome[] = ['success', 'failure', 'denied'];
const FORMATS: readonly AuditExportFormat[] = ['ndjson', 'csv'];

/** The filters shared by the list and the export. */
export class AuditEventFiltersDto {
  @ApiPropertyOptional({ description: 'Exact actor id (user id, API key id or system component)' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  actorId?: string;

  @ApiPropertyOptional({
    description: 'Action prefix: `auth.` matches every authentication event, `user.create` exactly that',
    example: 'auth.',
  })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z_]+(\.[a-z_]*)?$/, { message: 'action must be a prefix of <resource>.<verb> in [a-z_]' })
  @Length(1, 100)
  action?: string;

  @ApiPropertyOptional({ example: 'user' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  resourceType?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 500)
  resourceId?: string;

  @ApiPropertyOptional({ enum: OUTCOMES })
  @IsOptional()
  @IsIn(OUTCOMES)
  outcome?: AuditOutcome;

  @ApiPropertyOptional({ description: 'The X-Request-ID of the request that caused the events' })
  @IsOptional()
  @IsString()
  @Length(1, 128)
  requestId?: string;

  @ApiPropertyOptional({
    description: 'Inclusive lower bound of occurredAt (ISO-8601; a date-time needs Z or an offset)',
    example: '2025-01-01T00:00:00Z',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(ISO_WITH_ZONE, { message: 'from must be a date or a date-time with Z or an offset' })
  from?: string;

  @ApiPropertyOptional({
    description: 'Exclusive upper bound of occurredAt (ISO-8601)',
    example: '2025-02-01',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(ISO_WITH_ZONE, { message: 'to must be a date or a date-time with Z or an offset' })
  to?: string;
}

export class ListAuditEventsQueryDto extends AuditEventFiltersDto {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_LIMIT)
  limit?: number;

  @ApiPropertyOptional({ description: 'The nextCursor of the previous page (opaque)' })
  @IsOptional()
  @IsString()
  cursor?: string;
}

export class ExportAuditEventsQueryDto extends AuditEventFiltersDto {
  @ApiPropertyOptional({ enum: FORMATS, default: 'ndjson' })
  @IsOptional()
  @IsIn(FORMATS)
  format?: AuditExportFormat;
}

export class AuditEventIdParamDto {
  @ApiProperty({ description: 'Audit event id', example: '42' })
  @Matches(ID, { message: 'id must be a positive integer' })
  id!: string;
}

export class VerifyAuditQueryDto {
  @ApiPropertyOptional({ description: 'First event id of the range (inclusive)' })
  @IsOptional()
  @Matches(ID, { message: 'fromId must be a positive integer' })
  fromId?: string;

  @ApiPropertyOptional({ description: 'Last event id of the range (inclusive)' })
  @IsOptional()
  @Matches(ID, { message: 'toId must be a positive integer' })
  toId?: string;
}
