import { ISO_WITH_ZONE, PageQueryDto } from '../../common/page-query.dto';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsIn,
  IsISO8601,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { UpdateProductDto } from '../../catalog/dto/products.dto';
import { EDITABLE_FIELDS, type EditableField } from '../../catalog/product-fields';
import { CHANGE_SOURCES, CHANGE_STATUSES, type ChangeSource, type ChangeStatus } from '../change.types';
import { MAX_BULK_CHANGES, type ReviewAction } from '../changes.service';

export class ChangeIdParam {
  @IsUUID()
  id!: string;
}

export class ListChangesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: CHANGE_STATUSES })
  @IsOptional()
  @IsIn(CHANGE_STATUSES)
  status?: ChangeStatus;

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(/^[1-9][0-9]{0,15}$/, { message: 'productId must be a positive integer' })
  productId?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  runId?: string;

  @ApiPropertyOptional({ enum: CHANGE_SOURCES })
  @IsOptional()
  @IsIn(CHANGE_SOURCES)
  source?: ChangeSource;

  @ApiPropertyOptional({ enum: EDITABLE_FIELDS })
  @IsOptional()
  @IsIn(EDITABLE_FIELDS)
  field?: EditableField;

  @ApiPropertyOptional({ description: 'Inclusive lower bound of createdAt (ISO-8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(ISO_WITH_ZONE, { message: 'from must be a date or a date-time with Z or an offset' })
  from?: string;

  @ApiPropertyOptional({ description: 'Exclusive upper bound of createdAt (ISO-8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(ISO_WITH_ZONE, { message: 'to must be a date or a date-time with Z or an offset' })
  to?: string;
}

export class ReviewCommentDto {
  @ApiPropertyOptional({ maxLength: 2000 })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  comment?: string;
}

export class BulkReviewDto extends ReviewCommentDto {
  @ApiProperty({ enum: ['approve', 'reject'] })
  @IsIn(['approve', 'reject'])
  action!: ReviewAction;

  @ApiPropertyOptional({ type: [String], maxItems: MAX_BULK_CHANGES, description: 'Change ids (or runId)' })
  @IsOptional()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BULK_CHANGES)
  @IsUUID('all', { each: true })
  ids?: string[];

  @ApiPropertyOptional({ format: 'uuid', description: 'Every proposal of this pipeline run (or ids)' })
  @IsOptional()
  @IsUUID()
  runId?: string;
}

export class ProposeChangesDto {
  @ApiProperty({
    description:
      'New values by field (title, bodyHtml, vendor, productType, category, tags, seoTitle, seoDescription, seoKeywords, publishedAt)',
    example: { seoTitle: 'Task Floor Lamp | Adjustable Reading Light' },
  })
  @IsObject()
  @ValidateNested()
  @Type(() => UpdateProductDto)
  changes!: UpdateProductDto;

  @ApiPropertyOptional({ minimum: 0, maximum: 1 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  confidence?: number;

  @ApiPropertyOptional({ maxLength: 2000 })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  comment?: string;
}
