import { PageQueryDto } from '../../common/page-query.dto';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  Equals,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsObject,
  IsOptional,
  IsPositive,
  IsString,
  IsUUID,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { ListProductsQueryDto } from '../../catalog/dto/products.dto';
import { PIPELINE_TASKS, type PipelineTask } from '../pipeline-tasks';
import type { ItemStatus, RunStatus } from '../pipeline-runs.repository';
import { MAX_SELECTED_IDS } from '../pipeline-runs.service';

const RUN_STATUSES: readonly RunStatus[] = [
  'queued',
  'running',
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
];
const ITEM_STATUSES: readonly ItemStatus[] = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];

/** The product list's filters (without paging and sorting). */
export class SelectionFilterDto extends ListProductsQueryDto {}

export class SelectionDto {
  @ApiPropertyOptional({ type: [Number], maxItems: MAX_SELECTED_IDS })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_SELECTED_IDS)
  @IsInt({ each: true })
  @IsPositive({ each: true })
  @Max(Number.MAX_SAFE_INTEGER, { each: true })
  productIds?: number[];

  @ApiPropertyOptional({
    description: 'The product list filters (q, vendor, productType, category, tag, ...)',
  })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => SelectionFilterDto)
  filter?: SelectionFilterDto;

  @ApiPropertyOptional({ enum: [true] })
  @IsOptional()
  @Equals(true)
  all?: true;

  @ApiPropertyOptional({
    enum: [true],
    description: 'Products without a succeeded item of this task in any run',
  })
  @IsOptional()
  @Equals(true)
  unprocessed?: true;
}

export class StartRunDto {
  @ApiProperty({ enum: PIPELINE_TASKS })
  @IsIn(PIPELINE_TASKS)
  task!: PipelineTask;

  @ApiProperty({ type: SelectionDto, description: 'Exactly one of productIds, filter, all, unprocessed' })
  @IsObject()
  @ValidateNested()
  @Type(() => SelectionDto)
  selection!: SelectionDto;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/, { message: 'model must be a model name' })
  model?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 64 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(64)
  concurrency?: number;

  @ApiPropertyOptional({
    minimum: 1,
    description: 'Token budget: the run stops (cancelled, token_budget_exhausted) when used up',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(2_000_000_000)
  maxTokens?: number;

  @ApiPropertyOptional({ description: 'Answer 200 { total, model, estimatedCalls } without starting' })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;
}

export class RunIdParam {
  @IsUUID()
  id!: string;
}

export class ListRunsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: PIPELINE_TASKS })
  @IsOptional()
  @IsIn(PIPELINE_TASKS)
  task?: PipelineTask;

  @ApiPropertyOptional({ enum: RUN_STATUSES })
  @IsOptional()
  @IsIn(RUN_STATUSES)
  status?: RunStatus;

  @ApiPropertyOptional()
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;
}

export class ListItemsQueryDto {
  @ApiPropertyOptional({ minimum: 1, default: 1 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  page?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ enum: ITEM_STATUSES })
  @IsOptional()
  @IsIn(ITEM_STATUSES)
  status?: ItemStatus;
}
