import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Audited, AuditedManually } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { API_PREFIX } from '../common/api-controller.decorator';
import { BadRequestError } from '../common/app-error';
import { type AdapterView, AdaptersService } from './adapters.service';
import {
  AdapterIdParam,
  AdapterSchemaQueryDto,
  CreateAdapterDto,
  ExecuteAdapterDto,
  ListAdaptersQueryDto,
  QueryAdapterDto,
  UpdateAdapterDto,
} from './dto/adapters.dto';

const adapterId = (result: unknown, request: { params: unknown }) =>
  (result as AdapterView | undefined)?.id ?? (request.params as { id?: string }).id;

@Controller(API_PREFIX)
@ApiTags('adapters')
@ApiBearerAuth()
export class AdaptersController {
  constructor(private readonly adapters: AdaptersService) {}

  @Get('adapters')
  @RequirePermissions('adapters:read')
  @ApiOperation({ summary: 'Registered adapters (secrets never shown; secretFields says which are set)' })
  list(@Query() query: ListAdaptersQueryDto) {
    return this.adapters.list(query.page, query.limit, query.type);
  }

  @Get('adapters/:id')
  @RequirePermissions('adapters:read')
  @ApiOperation({ summary: 'One adapter' })
  get(@Param() { id }: AdapterIdParam): Promise<AdapterView> {
    return this.adapters.get(id);
  }

  @Post('adapters')
  @HttpCode(201)
  @RequirePermissions('adapters:write')
  @Audited({ action: 'adapter.create', resourceType: 'adapter', resourceId: adapterId })
  @ApiOperation({ summary: 'Register an adapter (config.allowedCidrs needs adapters:network)' })
  create(@Body() body: CreateAdapterDto): Promise<AdapterView> {
    return this.adapters.create(body);
  }

  @Patch('adapters/:id')
  @RequirePermissions('adapters:write')
  @Audited({ action: 'adapter.update', resourceType: 'adapter', resourceId: adapterId })
  @ApiOperation({ summary: 'Change an adapter' })
  update(@Param() { id }: AdapterIdParam, @Body() body: UpdateAdapterDto): Promise<AdapterView> {
    return this.adapters.update(id, body);
  }

  @Delete('adapters/:id')
  @HttpCode(204)
  @RequirePermissions('adapters:write')
  @Audited({ action: 'adapter.delete', resourceType: 'adapter', resourceId: adapterId })
  @ApiOperation({ summary: 'Remove an adapter' })
  async delete(@Param() { id }: AdapterIdParam): Promise<void> {
    await this.adapters.delete(id);
  }

  @Post('adapters/:id/test')
  @HttpCode(200)
  @RequirePermissions('adapters:execute')
  @AuditedManually()
  @ApiOperation({ summary: 'Connectivity and latency' })
  test(@Param() { id }: AdapterIdParam) {
    return this.adapters.test(id);
  }

  @Post('adapters/:id/execute')
  @HttpCode(200)
  @RequirePermissions('adapters:execute')
  @AuditedManually()
  @ApiOperation({ summary: 'Call a REST adapter (200 whenever the upstream answered, whatever its status)' })
  execute(@Param() { id }: AdapterIdParam, @Body() body: ExecuteAdapterDto) {
    return this.adapters.execute(id, {
      method: body.method,
      path: body.path,
      query: stringRecord(body.query, 'query', true),
      headers: stringRecord(body.headers, 'headers', false) as Record<string, string> | undefined,
      body: body.body,
    });
  }

  @Post('adapters/:id/query')
  @HttpCode(200)
  @RequirePermissions('adapters:execute')
  @AuditedManually()
  @ApiOperation({ summary: 'Run one read-only statement on a PostgreSQL adapter' })
  query(@Param() { id }: AdapterIdParam, @Body() body: QueryAdapterDto) {
    return this.adapters.query(id, body.sql, body.params ?? []);
  }

  @Get('adapters/:id/schema')
  @RequirePermissions('adapters:execute')
  @ApiOperation({ summary: 'Schema of a PostgreSQL adapter (same shape as GET /schema)' })
  schema(@Param() { id }: AdapterIdParam, @Query() query: AdapterSchemaQueryDto) {
    return this.adapters.schema(id, query.schema ?? 'public');
  }
}

/** Query and header maps: string values (arrays of strings for query parameters), bounded. */
function stringRecord(
  value: Record<string, unknown> | undefined,
  field: string,
  arrays: boolean,
): Record<string, string | string[]> | undefined {
  if (value === undefined) return undefined;
  const entries = Object.entries(value);
  const bad = entries.filter(
    ([, item]) =>
      !(
        typeof item === 'string' ||
        (arrays && Array.isArray(item) && item.every((v) => typeof v === 'string'))
      ),
  );
  if (entries.length > 100 || bad.length > 0) {
    throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
      { field, issue: `at most 100 entries of ${arrays ? 'strings or string arrays' : 'strings'}` },
    ]);
  }
  return value as Record<string, string | string[]>;
}
