import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsNumber,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import type { ProductSort } from '../products.repository';

export const MAX_PRODUCT_PAGE_LIMIT = 200;
const SORTS: readonly ProductSort[] = ['id', 'title', 'updatedAt'];
const ID = /^[1-9][0-9]{0,15}$/;

const toBoolean = ({ value }: { value: unknown }): unknown =>
  value === 'true' ? true : value === 'false' ? false : value;

export class ProductIdParam {
  @Matches(ID, { message: 'id must be a positive integer product id' })
  id!: string;
}

export class ListProductsQueryDto {
  @ApiPropertyOptional({ minimum: 1, description: 'Page number (page-based listing, the default)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  page?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PRODUCT_PAGE_LIMIT, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PRODUCT_PAGE_LIMIT)
  limit?: number;

  @ApiPropertyOptional({
    description: "Keyset pagination: empty for the first page, then the previous page's nextCursor",
  })
  @IsOptional()
  @IsString()
  @MaxLength(1400)
  cursor?: string;

  @ApiPropertyOptional({ description: 'Full-text search (web search syntax: "exact phrase", or, -exclude)' })
  @IsOptional()
  @IsString()
  @Length(1, 500)
  q?: string;

  @ApiPropertyOptional({ description: 'Exact vendor name' })
  @IsOptional()
  @IsString()
  @Length(1, 255)
  vendor?: string;

  @ApiPropertyOptional({ description: 'Exact product type' })
  @IsOptional()
  @IsString()
  @Length(1, 255)
  productType?: string;

  @ApiPropertyOptional({ description: 'A taxonomy path: the category and everything below it' })
  @IsOptional()
  @IsString()
  @Length(1, 1000)
  category?: string;

  @ApiPropertyOptional({ description: 'Exact tag' })
  @IsOptional()
  @IsString()
  @Length(1, 255)
  tag?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: 1, description: 'Lower bound of categoryConfidence' })
  @IsOptional()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  minConfidence?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 1, description: 'Upper bound of categoryConfidence' })
  @IsOptional()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  maxConfidence?: number;

  @ApiPropertyOptional({ description: 'Only products with (true) or without (false) proposals to review' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean()
  hasPendingChanges?: boolean;

  @ApiPropertyOptional({ enum: SORTS, description: 'Default: relevance when q is given, else id' })
  @IsOptional()
  @IsIn(SORTS)
  sort?: ProductSort;

  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'asc' })
  @IsOptional()
  @IsIn(['asc', 'desc'])
  order?: 'asc' | 'desc';
}

/**
 * The fields an edit may change. Anything else (id, handle, version, timestamps, derived fields)
 * is refused as an unknown field by the validation pipe.
 */
export class UpdateProductDto {
  @ApiPropertyOptional({ maxLength: 255 })
  @ValidateIf((_, value) => value !== undefined)
  @IsString()
  @Length(1, 255)
  title?: string;

  @ApiPropertyOptional({
    nullable: true,
    description: 'HTML; sanitised (scripts, styles and handlers are removed)',
  })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsString()
  @MaxLength(1_000_000)
  bodyHtml?: string | null;

  @ApiPropertyOptional({ nullable: true, maxLength: 255 })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsString()
  @Length(1, 255)
  vendor?: string | null;

  @ApiPropertyOptional({ nullable: true, maxLength: 255 })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsString()
  @Length(1, 255)
  productType?: string | null;

  @ApiPropertyOptional({ nullable: true, description: 'A full taxonomy path (see GET /taxonomy/search)' })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsString()
  @Length(1, 1000)
  category?: string | null;

  @ApiPropertyOptional({ type: [String], maxItems: 250 })
  @ValidateIf((_, value) => value !== undefined)
  @IsArray()
  @ArrayMaxSize(250)
  @IsString({ each: true })
  @Length(1, 255, { each: true })
  tags?: string[];

  @ApiPropertyOptional({ nullable: true, maxLength: 255 })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsString()
  @Length(1, 255)
  seoTitle?: string | null;

  @ApiPropertyOptional({ nullable: true, maxLength: 1000 })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsString()
  @Length(1, 1000)
  seoDescription?: string | null;

  @ApiPropertyOptional({ type: [String], maxItems: 50 })
  @ValidateIf((_, value) => value !== undefined)
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @Length(1, 100, { each: true })
  seoKeywords?: string[];

  @ApiPropertyOptional({ nullable: true, format: 'date-time' })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsISO8601({ strict: true })
  publishedAt?: string | null;
}
