import { Body, Controller, Get, Headers, HttpCode, Param, Post, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuditedManually } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { API_PREFIX } from '../common/api-controller.decorator';
import { BadRequestError } from '../common/app-error';
import { LARGE_BODY } from '../common/large-body';
import { ImportIdParam } from './dto/imports.dto';
import { CatalogImportsService, type ImportView } from './import/catalog-imports.service';

@Controller(API_PREFIX)
@ApiTags('catalog imports')
@ApiBearerAuth()
export class CatalogImportsController {
  constructor(private readonly imports: CatalogImportsService) {}

  @Post('catalog/imports')
  @HttpCode(202)
  @RequirePermissions('catalog:import')
  @AuditedManually()
  @RouteConfig({ [LARGE_BODY]: true })
  @ApiConsumes('application/json', 'application/x-ndjson')
  @ApiBody({
    description:
      '`{ "products": [...] }` (Shopify products.json shape) or NDJSON, one product per line; up to IMPORT_BODY_LIMIT_BYTES',
    schema: { type: 'object', properties: { products: { type: 'array', items: { type: 'object' } } } },
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiOperation({ summary: 'Start an import (202; poll the Location for status and summary)' })
  async start(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<unknown> {
    const response = await this.imports.start(productsOf(body), idempotencyKey);
    void reply.status(response.status);
    if (response.location !== undefined) void reply.header('location', response.location);
    return response.body;
  }

  @Get('catalog/imports/:id')
  @RequirePermissions('catalog:import')
  @ApiOperation({ summary: 'Status, progress and summary of an import' })
  get(@Param() { id }: ImportIdParam): Promise<ImportView> {
    return this.imports.get(id);
  }
}

/** The body is `{ products: [...] }` (JSON) or the array the NDJSON parser produced. */
function productsOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (body !== null && typeof body === 'object' && Array.isArray((body as { products?: unknown }).products)) {
    return (body as { products: unknown[] }).products;
  }
  throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
    { field: 'products', issue: 'send { "products": [...] } as JSON, or NDJSON with one product per line' },
  ]);
}
