import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import {
  DEFAULT_SEARCH_LIMIT,
  DEFAULT_TREE_DEPTH,
  MAX_SEARCH_LIMIT,
  MAX_TREE_DEPTH,
  type TaxonomyCategory,
  type TaxonomySearchItem,
  type TaxonomyTreeNode,
} from '../taxonomy.service';

export class TaxonomyTreeQueryDto {
  @ApiPropertyOptional({
    description:
      'Full path of the node to start from; omitted: a virtual root above the top-level categories',
    example: 'Home & Garden > Lighting',
  })
  @IsOptional()
  @IsString()
  @Length(1, 500)
  root?: string;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: MAX_TREE_DEPTH,
    default: DEFAULT_TREE_DEPTH,
    description: 'Levels below the root to expand; deeper nodes come with `childCount` only',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_TREE_DEPTH)
  depth?: number;
}

export class TaxonomySearchQueryDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'floor lamp' })
  @IsString()
  @Length(1, 200)
  q!: string;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_SEARCH_LIMIT, default: DEFAULT_SEARCH_LIMIT })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_SEARCH_LIMIT)
  limit?: number;
}

/** OpenAPI shapes of the responses (the service returns plain objects of the same shape). */
export class TaxonomyCategoryDto implements TaxonomyCategory {
  @ApiProperty({ example: 'Home & Garden', description: 'Full path (for a top-level category, its name)' })
  id!: string;

  @ApiProperty({ example: 'Home & Garden' })
  name!: string;

  @ApiProperty({ example: 26 })
  childCount!: number;
}

export class TaxonomyCategoryListDto {
  @ApiProperty({ type: [TaxonomyCategoryDto] })
  items!: TaxonomyCategoryDto[];
}

export class TaxonomyTreeNodeDto implements TaxonomyTreeNode {
  @ApiProperty({ example: 'Home & Garden > Lighting', description: 'Full path; "" for the virtual root' })
  id!: string;

  @ApiProperty({ example: 'Lighting', description: 'Last path segment; "" for the virtual root' })
  name!: string;

  @ApiProperty({ example: 13 })
  childCount!: number;

  @ApiPropertyOptional({
    type: () => [TaxonomyTreeNodeDto],
    description: 'Sorted by name; omitted on nodes at the depth limit (see `childCount`)',
  })
  children?: TaxonomyTreeNodeDto[];
}

export class TaxonomySearchItemDto implements TaxonomySearchItem {
  @ApiProperty({ example: 'Home & Garden > Lighting > Lamps' })
  id!: string;

  @ApiProperty({ example: 'Lamps' })
  name!: string;

  @ApiProperty({ example: 0.875, minimum: 0, maximum: 1 })
  score!: number;
}

export class TaxonomySearchResultDto {
  @ApiProperty({ type: [TaxonomySearchItemDto], description: 'Best first; equal scores in taxonomy order' })
  items!: TaxonomySearchItemDto[];
}
