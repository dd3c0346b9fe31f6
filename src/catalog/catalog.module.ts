import { Module } from '@nestjs/common';
import { ChangesRepository } from '../changes/changes.repository';
import { TaxonomyModule } from '../taxonomy/taxonomy.module';
import { CatalogImportsController } from './catalog-imports.controller';
import { CatalogSearchSetup } from './catalog-search.setup';
import { CategoryAssigner } from './category-assigner';
import { CatalogImporter } from './import/catalog-importer';
import { CatalogImportsRepository } from './import/catalog-imports.repository';
import { CatalogImportsService } from './import/catalog-imports.service';
import { CatalogWriterRepository } from './import/catalog-writer.repository';
import { ProductsController } from './products.controller';
import { ProductsRepository } from './products.repository';
import { ProductsService } from './products.service';

/**
 * Products, imports and the change records they write. The review flow over those records lives in
 * ChangesModule, which builds on the repositories exported here.
 */
@Module({
  imports: [TaxonomyModule],
  controllers: [ProductsController, CatalogImportsController],
  providers: [
    CatalogSearchSetup,
    CatalogWriterRepository,
    ProductsRepository,
    ChangesRepository,
    CategoryAssigner,
    ProductsService,
    CatalogImporter,
    CatalogImportsRepository,
    CatalogImportsService,
  ],
  exports: [
    ProductsService,
    ProductsRepository,
    ChangesRepository,
    CategoryAssigner,
    CatalogImporter,
    TaxonomyModule,
  ],
})
export class CatalogModule {}
