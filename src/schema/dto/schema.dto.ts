import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches } from 'class-validator';
import { SCHEMA_NAME_PATTERN } from '../schema-introspector';
import { DEFAULT_SCHEMA } from '../schema.service';
import type {
  ColumnDescription,
  ForeignKeyDescription,
  IndexDescription,
  SchemaDescription,
  TableDescription,
  TableKind,
} from '../schema.types';

export class SchemaQueryDto {
  @ApiPropertyOptional({
    description: 'Schema name, matched exactly (case-sensitive)',
    default: DEFAULT_SCHEMA,
    pattern: SCHEMA_NAME_PATTERN.source,
    example: 'public',
  })
  @IsOptional()
  @IsString()
  @Matches(SCHEMA_NAME_PATTERN, {
    message: 'schema must be 1-63 of A-Z, a-z, 0-9, _ and $, not starting with a digit or $',
  })
  schema?: string;
}

/** OpenAPI shapes of the schema response (the service returns plain objects of the same shape). */
export class SchemaColumnDto implements ColumnDescription {
  @ApiProperty({ example: 'email' })
  name!: string;

  @ApiProperty({ example: 'character varying(320)', description: 'As PostgreSQL spells it, with modifiers' })
  type!: string;

  @ApiProperty()
  nullable!: boolean;

  @ApiProperty({ type: String, nullable: true, example: 'now()', description: 'Default expression (SQL)' })
  default!: string | null;

  @ApiProperty({ type: String, enum: ['always', 'byDefault'], nullable: true })
  identity!: 'always' | 'byDefault' | null;

  @ApiProperty({ type: String, nullable: true, description: 'Expression of a generated column' })
  generated!: string | null;

  @ApiProperty({ type: String, nullable: true })
  comment!: string | null;
}

export class SchemaReferencedTableDto {
  @ApiProperty({ example: 'public' })
  schema!: string;

  @ApiProperty({ example: 'users' })
  table!: string;

  @ApiProperty({ type: [String], example: ['id'] })
  columns!: string[];
}

export class SchemaForeignKeyDto implements ForeignKeyDescription {
  @ApiProperty({ example: 'sessions_user_id_fkey' })
  name!: string;

  @ApiProperty({
    type: [String],
    example: ['user_id'],
    description: 'Paired in order with references.columns',
  })
  columns!: string[];

  @ApiProperty({ type: SchemaReferencedTableDto })
  references!: SchemaReferencedTableDto;
}

export class SchemaIndexDto implements IndexDescription {
  @ApiProperty({ example: 'users_email_key' })
  name!: string;

  @ApiProperty({
    type: [String],
    example: ['lower(email)'],
    description: 'Key columns in index order; expressions as SQL',
  })
  columns!: string[];

  @ApiProperty()
  unique!: boolean;

  @ApiProperty()
  primary!: boolean;

  @ApiProperty({ example: 'btree' })
  method!: string;

  @ApiProperty({ type: String, nullable: true, description: 'WHERE clause of a partial index' })
  predicate!: string | null;
}

const KINDS: TableKind[] = ['table', 'partitioned_table', 'view', 'materialized_view', 'foreign_table'];

export class SchemaTableDto implements TableDescription {
  @ApiProperty({ example: 'users' })
  name!: string;

  @ApiProperty({ enum: KINDS })
  kind!: TableKind;

  @ApiProperty({ type: String, nullable: true })
  comment!: string | null;

  @ApiProperty({
    type: Number,
    nullable: true,
    description: "The planner's row estimate; null when never analysed, and for views",
  })
  rowEstimate!: number | null;

  @ApiProperty({ type: [SchemaColumnDto] })
  columns!: SchemaColumnDto[];

  @ApiProperty({ type: [String], example: ['id'] })
  primaryKey!: string[];

  @ApiProperty({ type: [SchemaForeignKeyDto] })
  foreignKeys!: SchemaForeignKeyDto[];

  @ApiProperty({ type: [SchemaIndexDto] })
  indexes!: SchemaIndexDto[];
}

export class SchemaDescriptionDto implements SchemaDescription {
  @ApiProperty({ example: 'public' })
  schema!: string;

  @ApiProperty({ type: [SchemaTableDto] })
  tables!: SchemaTableDto[];
}
