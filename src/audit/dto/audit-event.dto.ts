import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { AuditEventPage, AuditEventView, AuditVerifyResult } from '../audit-event';
import type { AuditActorType, AuditOutcome } from '../audit.types';

/** OpenAPI shapes of the audit responses (the service returns plain objects of the same shape). */
export class AuditEventDto implements AuditEventView {
  @ApiProperty({ example: 42 })
  id!: number;

  @ApiProperty({ format: 'date-time' })
  occurredAt!: string;

  @ApiProperty({ type: String, nullable: true })
  requestId!: string | null;

  @ApiProperty({ enum: ['user', 'api_key', 'system', 'anonymous'] })
  actorType!: AuditActorType;

  @ApiProperty({ type: String, nullable: true })
  actorId!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Email, API key name or component name' })
  actorLabel!: string | null;

  @ApiProperty({ example: 'user.create' })
  action!: string;

  @ApiProperty({ type: String, nullable: true })
  resourceType!: string | null;

  @ApiProperty({ type: String, nullable: true })
  resourceId!: string | null;

  @ApiProperty({ enum: ['success', 'failure', 'denied'] })
  outcome!: AuditOutcome;

  @ApiProperty({ type: Number, nullable: true })
  httpStatus!: number | null;

  @ApiProperty({ type: String, nullable: true })
  ip!: string | null;

  @ApiProperty({ type: String, nullable: true })
  userAgent!: string | null;

  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Context, with secrets redacted' })
  details!: Record<string, unknown>;

  @ApiProperty({ type: Number, nullable: true, description: 'Position in the hash chain; null until sealed' })
  chainSeq!: number | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  sealedAt!: string | null;

  @ApiProperty({ type: String, nullable: true })
  prevHash!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'sha256(prevHash || canonical JSON), hex' })
  hash!: string | null;
}

export class AuditEventPageDto implements AuditEventPage {
  @ApiProperty({ type: [AuditEventDto] })
  items!: AuditEventDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` for the next page; null at the end',
  })
  nextCursor!: string | null;
}

export class AuditVerifyResultDto implements AuditVerifyResult {
  @ApiProperty({ description: 'True when every checked row links to its predecessor and its hash matches' })
  ok!: boolean;

  @ApiProperty({ description: 'Sealed rows checked and found intact' })
  checked!: number;

  @ApiProperty({ description: 'Rows not sealed yet (not covered by the chain)' })
  unsealed!: number;

  @ApiPropertyOptional({ description: 'The first row, in chain order, that does not verify' })
  firstBrokenId?: number;
}
