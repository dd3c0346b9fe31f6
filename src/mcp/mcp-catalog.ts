import { Injectable } from '@nestjs/common';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { AuditService } from '../audit/audit.service';
import type { Permission } from '../authz/permissions';
import { ProductsService } from '../catalog/products.service';
import { AppError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import { PipelineRunsService } from '../pipelines/pipeline-runs.service';
import { PromptsService } from '../prompts/prompts.service';

/** MCP's "resource not found" error code (also answered for resources the caller may not read). */
const RESOURCE_NOT_FOUND = -32002;
const RESOURCES_PAGE = 100;
const PROMPTS_PAGE = 100;

const TEMPLATES = [
  {
    permission: 'products:read' as Permission,
    template: {
      uriTemplate: 'catalog://products/{id}',
      name: 'product',
      title: 'Product',
      description: 'A catalogue product with variants, images, options, tags and pending proposals.',
      mimeType: 'application/json',
    },
  },
  {
    permission: 'pipelines:read' as Permission,
    template: {
      uriTemplate: 'pipelines://runs/{id}',
      name: 'pipeline-run',
      title: 'Pipeline run',
      description: 'A pipeline run with its status, counts by item status, tokens and duration.',
      mimeType: 'application/json',
    },
  },
];

const PRODUCT_URI = /^catalog:\/\/products\/([1-9][0-9]{0,15})$/;
const RUN_URI = /^pipelines:\/\/runs\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/**
 * MCP resources (products and pipeline runs, with templates) and prompts (the prompt templates),
 * read through the same services and permissions as the REST API. A read the caller may not make
 * is answered like a missing resource and leaves an `authz.denied` event.
 */
@Injectable()
export class McpCatalog {
  constructor(
    private readonly products: ProductsService,
    private readonly runs: PipelineRunsService,
    private readonly prompts: PromptsService,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
  ) {}

  resourceTemplates() {
    return { resourceTemplates: TEMPLATES.filter((t) => this.may(t.permission)).map((t) => t.template) };
  }

  /** Products, a page at a time (keyset cursor); runs are reached through their template. */
  async resources(cursor: string | undefined) {
    if (!this.may('products:read')) return { resources: [] };
    const page = await this.products.list({ cursor: cursor ?? '', limit: RESOURCES_PAGE });
    return {
      resources: page.items.map((product) => ({
        uri: `catalog://products/${product.id}`,
        name: product.handle,
        title: product.title,
        mimeType: 'application/json',
      })),
      ...('nextCursor' in page && page.nextCursor !== null ? { nextCursor: page.nextCursor } : {}),
    };
  }

  async read(uri: string) {
    const product = PRODUCT_URI.exec(uri);
    if (product !== null) {
      await this.require('products:read', uri);
      return json(uri, await this.orNotFound(uri, () => this.products.get(Number(product[1]))));
    }
    const run = RUN_URI.exec(uri);
    if (run !== null) {
      await this.require('pipelines:read', uri);
      return json(uri, await this.orNotFound(uri, () => this.runs.get(run[1].toLowerCase())));
    }
    throw notFound(uri);
  }

  async promptList(cursor: string | undefined) {
    if (!this.may('prompts:read')) return { prompts: [] };
    const page = cursor === undefined ? 1 : Number.parseInt(cursor, 10);
    if (!Number.isInteger(page) || page < 1 || page > 100_000)
      throw new McpError(ErrorCode.InvalidParams, 'Invalid cursor');
    const result = await this.prompts.list({ page, limit: PROMPTS_PAGE });
    return {
      prompts: result.items.map((prompt) => ({
        name: prompt.name,
        title: prompt.name,
        description: `The ${prompt.task} prompt (version ${prompt.version}), rendered against a product.`,
        arguments: [
          { name: 'productId', description: 'The id of the product to render it for', required: true },
        ],
      })),
      ...(page * PROMPTS_PAGE < result.total ? { nextCursor: String(page + 1) } : {}),
    };
  }

  async prompt(name: string, args: Record<string, string> | undefined) {
    await this.require('prompts:read', `prompt ${name}`);
    const productId = Number(args?.productId);
    if (!Number.isSafeInteger(productId) || productId < 1)
      throw new McpError(ErrorCode.InvalidParams, 'productId must be a product id');
    try {
      const rendered = await this.prompts.preview(name, productId);
      return {
        description: `${rendered.name} v${rendered.version} for product ${productId}`,
        messages: [
          { role: 'user' as const, content: { type: 'text' as const, text: rendered.system } },
          { role: 'user' as const, content: { type: 'text' as const, text: rendered.user } },
        ],
      };
    } catch (error) {
      if (error instanceof AppError && error.status === 404)
        throw new McpError(ErrorCode.InvalidParams, error.message);
      throw error;
    }
  }

  private may(permission: Permission): boolean {
    return this.context.principal?.permissions.has(permission) ?? false;
  }

  private async require(permission: Permission, target: string): Promise<void> {
    if (this.may(permission)) return;
    await this.audit.recordIndependently({
      action: 'authz.denied',
      outcome: 'denied',
      httpStatus: 403,
      details: { missing: [permission], route: `mcp ${target.slice(0, 200)}` },
    });
    throw notFound(target);
  }

  private async orNotFound<T>(uri: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof AppError && error.status === 404) throw notFound(uri);
      throw error;
    }
  }
}

function json(uri: string, value: unknown) {
  return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(value) }] };
}

function notFound(uri: string): McpError {
  return new McpError(RESOURCE_NOT_FOUND, 'Resource not found', { uri: uri.slice(0, 500) });
}
