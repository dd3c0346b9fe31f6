import { PageQueryDto } from '../../common/page-query.dto';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { MAX_SYSTEM_TEXT_CHARS, MAX_USER_TEMPLATE_CHARS } from '../prompt-renderer';
import { PROMPT_NAME_PATTERN, PROMPT_TASKS, type PromptTask } from '../prompt-tasks';

const NAME_MESSAGE = 'name must be 1-63 of a-z, 0-9 and _, starting with a letter';
const MAX_VERSION = 2_147_483_647;

export class CreatePromptDto {
  @ApiProperty({ example: 'meta_optimization_short', pattern: PROMPT_NAME_PATTERN.source })
  @Matches(PROMPT_NAME_PATTERN, { message: NAME_MESSAGE })
  name!: string;

  @ApiProperty({ enum: PROMPT_TASKS })
  @IsIn(PROMPT_TASKS)
  task!: PromptTask;

  @ApiProperty({
    maxLength: MAX_SYSTEM_TEXT_CHARS,
    description: 'Sent verbatim as the system message; no placeholders',
  })
  @IsString()
  @Length(1, MAX_SYSTEM_TEXT_CHARS)
  systemText!: string;

  @ApiProperty({
    maxLength: MAX_USER_TEMPLATE_CHARS,
    description: 'The user message, with {{product.<field>}} placeholders (docs/PROMPTS.md)',
    example: 'Write SEO metadata for {{product.title}}.',
  })
  @IsString()
  @Length(1, MAX_USER_TEMPLATE_CHARS)
  userTemplate!: string;
}

export class UpdatePromptDto {
  @ApiProperty({ maxLength: MAX_SYSTEM_TEXT_CHARS })
  @IsString()
  @Length(1, MAX_SYSTEM_TEXT_CHARS)
  systemText!: string;

  @ApiProperty({ maxLength: MAX_USER_TEMPLATE_CHARS })
  @IsString()
  @Length(1, MAX_USER_TEMPLATE_CHARS)
  userTemplate!: string;

  @ApiPropertyOptional({ default: true, description: 'false stores the version without making it active' })
  @IsOptional()
  @IsBoolean()
  activate?: boolean;
}

export class PreviewPromptDto {
  @ApiProperty({ example: 632910392, minimum: 1 })
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  productId!: number;

  @ApiPropertyOptional({ minimum: 1, description: 'A stored version; the active one when omitted' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_VERSION)
  version?: number;
}

export class PromptNameParam {
  @Matches(PROMPT_NAME_PATTERN, { message: 'name must be a prompt name' })
  name!: string;
}

export class PromptVersionParams extends PromptNameParam {
  @Type(() => Number)
  @IsInt({ message: 'version must be a positive integer' })
  @Min(1)
  @Max(MAX_VERSION)
  version!: number;
}

export class ListPromptsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: PROMPT_TASKS })
  @IsOptional()
  @IsIn(PROMPT_TASKS)
  task?: PromptTask;
}

export class PromptDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'meta_optimization' })
  name!: string;

  @ApiProperty({ enum: PROMPT_TASKS })
  task!: PromptTask;

  @ApiProperty({ example: 1 })
  version!: number;

  @ApiProperty({ description: 'Whether this is the version the pipelines use' })
  active!: boolean;

  @ApiProperty()
  systemText!: string;

  @ApiProperty()
  userTemplate!: string;

  @ApiProperty({ description: 'User id of the author (an API key counts as its owner), or `system`' })
  author!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

export class PromptPageDto {
  @ApiProperty({ type: [PromptDto] })
  items!: PromptDto[];

  @ApiProperty()
  total!: number;

  @ApiProperty()
  page!: number;

  @ApiProperty()
  limit!: number;
}

export class RenderedPromptDto {
  @ApiProperty()
  name!: string;

  @ApiProperty()
  version!: number;

  @ApiProperty({ enum: PROMPT_TASKS })
  task!: PromptTask;

  @ApiProperty({ description: 'The system message: the stored system text and the data notice' })
  system!: string;

  @ApiProperty({ description: 'The user message, product values in <product_data> blocks' })
  user!: string;
}
