import { Body, Controller, Get, Headers, Param, Patch, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Audited } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { API_PREFIX } from '../common/api-controller.decorator';
import { ListProductsQueryDto, ProductIdParam, UpdateProductDto } from './dto/products.dto';
import { productEtag } from './etag';
import { parseProductId } from './product-input';
import type { ProductDetail } from './product.types';
import { type ProductList, ProductsService } from './products.service';

@Controller(API_PREFIX)
@ApiTags('products')
@ApiBearerAuth()
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  @Get('products')
  @RequirePermissions('products:read')
  @ApiOperation({ summary: 'Search, filter and page through the catalogue' })
  list(@Query() query: ListProductsQueryDto): Promise<ProductList> {
    return this.products.list({ ...query, limit: query.limit ?? 50 });
  }

  @Get('products/:id')
  @RequirePermissions('products:read')
  @ApiOperation({
    summary: 'A product with tags, images, variants, options and pending proposals; ETag carries its version',
  })
  async get(
    @Param() params: ProductIdParam,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProductDetail> {
    const product = await this.products.get(parseProductId(params.id));
    void reply.header('etag', productEtag(product.version));
    return product;
  }

  @Patch('products/:id')
  @RequirePermissions('products:write')
  @Audited({
    action: 'product.update',
    resourceType: 'product',
    resourceId: (_, request) => (request.params as { id?: string }).id,
  })
  @ApiHeader({ name: 'If-Match', required: true, description: 'The ETag from GET /products/:id' })
  @ApiOperation({ summary: 'Edit a product (applied at once, one change record per changed field)' })
  async update(
    @Param() params: ProductIdParam,
    @Headers('if-match') ifMatch: string | undefined,
    @Body() body: UpdateProductDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProductDetail> {
    const product = await this.products.update(parseProductId(params.id), ifMatch, { ...body });
    void reply.header('etag', productEtag(product.version));
    return product;
  }
}
