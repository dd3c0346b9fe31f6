import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequirePermissions } from '../authz/route-access.decorators';
import { API_PREFIX } from '../common/api-controller.decorator';
import {
  TaxonomyCategoryListDto,
  TaxonomySearchQueryDto,
  TaxonomySearchResultDto,
  TaxonomyTreeNodeDto,
  TaxonomyTreeQueryDto,
} from './dto/taxonomy.dto';
import {
  type TaxonomyCategory,
  type TaxonomySearchItem,
  TaxonomyService,
  type TaxonomyTreeNode,
} from './taxonomy.service';

@Controller(API_PREFIX)
@ApiTags('taxonomy')
@ApiBearerAuth()
export class TaxonomyController {
  constructor(private readonly taxonomy: TaxonomyService) {}

  @Get('taxonomy')
  @RequirePermissions('taxonomy:read')
  @ApiOperation({ summary: 'Top-level categories of the Google product taxonomy, sorted by name' })
  @ApiOkResponse({ type: TaxonomyCategoryListDto })
  categories(): { items: TaxonomyCategory[] } {
    return this.taxonomy.categories();
  }

  @Get('taxonomy/tree')
  @RequirePermissions('taxonomy:read')
  @ApiOperation({
    summary: 'A subtree of the taxonomy',
    description:
      'Starts at `root` (a full path) or, without it, at a virtual root above the top-level categories; ' +
      'expands `depth` levels. 404 TAXONOMY_NODE_NOT_FOUND for an unknown path.',
  })
  @ApiOkResponse({ type: TaxonomyTreeNodeDto })
  tree(@Query() query: TaxonomyTreeQueryDto): TaxonomyTreeNode {
    return this.taxonomy.tree(query.root, query.depth);
  }

  @Get('taxonomy/search')
  @RequirePermissions('taxonomy:read')
  @ApiOperation({
    summary: 'Search categories by name',
    description:
      'Case- and accent-insensitive words, plurals folded; own-name and whole-word matches rank above ' +
      'ancestor and partial matches. Best first, equal scores in taxonomy order.',
  })
  @ApiOkResponse({ type: TaxonomySearchResultDto })
  search(@Query() query: TaxonomySearchQueryDto): { items: TaxonomySearchItem[] } {
    return this.taxonomy.search(query.q, query.limit);
  }
}
