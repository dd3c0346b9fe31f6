import { PageQueryDto } from '../../common/page-query.dto';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
} from 'class-validator';
import { HTTP_METHODS } from '../adapter-config';
import type { AdapterType } from '../adapter.types';

const TYPES: readonly AdapterType[] = ['rest', 'postgres'];

export class AdapterIdParam {
  @IsUUID()
  id!: string;
}

export class ListAdaptersQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: TYPES })
  @IsOptional()
  @IsIn(TYPES)
  type?: AdapterType;
}

export class CreateAdapterDto {
  @ApiProperty({ pattern: '^[a-z][a-z0-9_]{0,39}$', description: 'Becomes part of MCP tool names' })
  @IsString()
  @Matches(/^[a-z][a-z0-9_]{0,39}$/, { message: 'name must match ^[a-z][a-z0-9_]{0,39}$' })
  name!: string;

  @ApiProperty({ enum: TYPES })
  @IsIn(TYPES)
  type!: AdapterType;

  @ApiPropertyOptional({ maxLength: 1000 })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  description?: string;

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  exposeAsTool?: boolean;

  @ApiProperty({ description: 'Non-secret settings; see docs/ADAPTERS.md for each type' })
  @IsObject()
  config!: Record<string, unknown>;

  @ApiPropertyOptional({
    description:
      'REST: bearerToken | basic { username, password } | apiKey { in, name, value }; PostgreSQL: connectionString. Never returned.',
  })
  @IsOptional()
  @IsObject()
  secrets?: Record<string, unknown>;
}

export class UpdateAdapterDto {
  @ApiPropertyOptional({ maxLength: 1000 })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  description?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  exposeAsTool?: boolean;

  @ApiPropertyOptional({ enum: ['active', 'disabled'] })
  @IsOptional()
  @IsIn(['active', 'disabled'])
  status?: 'active' | 'disabled';

  @ApiPropertyOptional({ description: 'Replaces the whole configuration' })
  @IsOptional()
  @IsObject()
  config?: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'Secret fields to set; a field set to null is removed' })
  @IsOptional()
  @IsObject()
  secrets?: Record<string, unknown>;
}

export class ExecuteAdapterDto {
  @ApiProperty({ enum: HTTP_METHODS })
  @IsIn(HTTP_METHODS)
  method!: string;

  @ApiProperty({ description: 'Relative to the adapter base URL, e.g. /v1/items?x=1', maxLength: 2048 })
  @IsString()
  @MaxLength(2048)
  path!: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
  })
  @IsOptional()
  @IsObject()
  query?: Record<string, string | string[]>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional()
  @IsObject()
  headers?: Record<string, string>;

  @ApiPropertyOptional({ description: 'JSON value, or a string sent as text' })
  @IsOptional()
  body?: unknown;
}

export class QueryAdapterDto {
  @ApiProperty({
    description: 'One read-only statement; values as $1, $2 ... parameters',
    maxLength: 100_000,
  })
  @IsString()
  @MaxLength(100_000)
  sql!: string;

  @ApiPropertyOptional({ type: 'array', items: {}, maxItems: 100 })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  params?: unknown[];
}

export class AdapterSchemaQueryDto {
  @ApiPropertyOptional({ default: 'public' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, { message: 'schema must be a PostgreSQL identifier' })
  schema?: string;
}
