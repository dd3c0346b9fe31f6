import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Audited, AuditedManually } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { ProductIdParam } from '../catalog/dto/products.dto';
import { parseProductId } from '../catalog/product-input';
import { PageQueryDto } from '../common/page-query.dto';
import { API_PREFIX } from '../common/api-controller.decorator';
import type { ChangeView } from './change.types';
import { type BulkResult, ChangesService } from './changes.service';
import {
  BulkReviewDto,
  ChangeIdParam,
  ListChangesQueryDto,
  ProposeChangesDto,
  ReviewCommentDto,
} from './dto/changes.dto';

/** The id in the route's path (a change id, or a product id for proposals). */
const changeId = (_: unknown, request: { params: unknown }) => (request.params as { id?: string }).id;

@Controller(API_PREFIX)
@ApiTags('changes')
@ApiBearerAuth()
export class ChangesController {
  constructor(private readonly changes: ChangesService) {}

  @Get('changes')
  @RequirePermissions('changes:read')
  @ApiOperation({ summary: 'Change history, newest first' })
  list(@Query() query: ListChangesQueryDto) {
    const { page, limit, productId, from, to, ...filters } = query;
    return this.changes.list(
      {
        ...filters,
        ...(productId === undefined ? {} : { productId: parseProductId(productId) }),
        ...(from === undefined ? {} : { from: new Date(from) }),
        ...(to === undefined ? {} : { to: new Date(to) }),
      },
      page,
      limit,
    );
  }

  @Get('changes/:id')
  @RequirePermissions('changes:read')
  @ApiOperation({ summary: 'One change record' })
  get(@Param() { id }: ChangeIdParam): Promise<ChangeView> {
    return this.changes.get(id);
  }

  @Get('review-queue')
  @RequirePermissions('changes:read')
  @ApiOperation({ summary: 'Products with proposals waiting for review, lowest confidence first' })
  reviewQueue(@Query() query: PageQueryDto) {
    return this.changes.reviewQueue(query.page, query.limit);
  }

  @Post('products/:id/proposals')
  @HttpCode(201)
  @RequirePermissions('changes:propose')
  @Audited({ action: 'change.propose', resourceType: 'product', resourceId: changeId })
  @ApiOperation({ summary: 'Propose new field values for review (never applied until approved)' })
  async propose(
    @Param() params: ProductIdParam,
    @Body() body: ProposeChangesDto,
  ): Promise<{ items: ChangeView[] }> {
    const items = await this.changes.propose(
      parseProductId(params.id),
      { ...body.changes },
      {
        source: 'user',
        confidence: body.confidence ?? null,
        comment: body.comment ?? null,
      },
    );
    return { items };
  }

  @Post('changes/bulk')
  @HttpCode(200)
  @RequirePermissions('changes:review')
  @AuditedManually()
  @ApiOperation({
    summary: 'Approve or reject many proposals (by ids or by pipeline run); a result per change',
  })
  bulk(@Body() body: BulkReviewDto): Promise<BulkResult> {
    return this.changes.bulk(body.action, { ids: body.ids, runId: body.runId }, body.comment);
  }

  @Post('changes/:id/approve')
  @HttpCode(200)
  @RequirePermissions('changes:review')
  @Audited({ action: 'change.approve', resourceType: 'change', resourceId: changeId })
  @ApiOperation({ summary: 'Apply a proposal (409 when the field moved on since it was proposed)' })
  approve(@Param() { id }: ChangeIdParam, @Body() body: ReviewCommentDto): Promise<ChangeView> {
    return this.changes.approve(id, body.comment);
  }

  @Post('changes/:id/reject')
  @HttpCode(200)
  @RequirePermissions('changes:review')
  @Audited({ action: 'change.reject', resourceType: 'change', resourceId: changeId })
  @ApiOperation({ summary: 'Reject a proposal' })
  reject(@Param() { id }: ChangeIdParam, @Body() body: ReviewCommentDto): Promise<ChangeView> {
    return this.changes.reject(id, body.comment);
  }

  @Post('changes/:id/revert')
  @HttpCode(200)
  @RequirePermissions('changes:review')
  @Audited({ action: 'change.revert', resourceType: 'change', resourceId: changeId })
  @ApiOperation({ summary: 'Restore the old value of an applied change, as a new applied change' })
  revert(@Param() { id }: ChangeIdParam, @Body() body: ReviewCommentDto): Promise<ChangeView> {
    return this.changes.revert(id, body.comment);
  }
}
