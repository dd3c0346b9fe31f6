import { Logger, Module } from '@nestjs/common';
import { CategoryNormalizer } from './category-normalizer';
import { Taxonomy } from './taxonomy';
import { loadTaxonomy } from './taxonomy-files';
import { TaxonomySearchIndex } from './taxonomy-search';
import { TaxonomyController } from './taxonomy.controller';
import { TaxonomyService } from './taxonomy.service';

/**
 * The Google product taxonomy, read from assets/taxonomy/*.txt once at boot (a missing folder stops
 * the boot with a message naming it) and kept in memory with its search and normaliser indexes.
 * Other modules inject TaxonomyService or CategoryNormalizer.
 */
@Module({
  controllers: [TaxonomyController],
  providers: [
    {
      provide: Taxonomy,
      useFactory: (): Taxonomy => {
        const taxonomy = loadTaxonomy();
        new Logger('Taxonomy').log(`Loaded ${taxonomy.size} taxonomy categories`);
        return taxonomy;
      },
    },
    {
      provide: TaxonomySearchIndex,
      inject: [Taxonomy],
      useFactory: (taxonomy: Taxonomy) => new TaxonomySearchIndex(taxonomy),
    },
    CategoryNormalizer,
    TaxonomyService,
  ],
  exports: [Taxonomy, TaxonomyService, CategoryNormalizer],
})
export class TaxonomyModule {}
