import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequirePermissions } from '../authz/route-access.decorators';
import { API_PREFIX } from '../common/api-controller.decorator';
import { SchemaDescriptionDto, SchemaQueryDto } from './dto/schema.dto';
import { SchemaService } from './schema.service';
import type { SchemaDescription } from './schema.types';

@Controller(API_PREFIX)
@ApiTags('schema')
@ApiBearerAuth()
export class SchemaController {
  constructor(private readonly schemas: SchemaService) {}

  @Get('schema')
  @RequirePermissions('schema:read')
  @ApiOperation({
    summary: 'Describe a schema of the application database',
    description:
      'Tables, partitioned tables, views, materialized views and foreign tables (partitions left out), ' +
      'sorted by name, with columns, primary key, foreign keys and indexes. 404 SCHEMA_NOT_FOUND for an ' +
      'unknown schema; 504 SCHEMA_QUERY_TIMEOUT when a catalog query hits its statement timeout; ' +
      '502 SCHEMA_PERMISSION_DENIED when the database role may not read the schema.',
  })
  @ApiOkResponse({ type: SchemaDescriptionDto })
  describe(@Query() query: SchemaQueryDto): Promise<SchemaDescription> {
    return this.schemas.describe(query.schema);
  }
}
