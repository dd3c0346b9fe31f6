import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { PromptsController } from './prompts.controller';
import { PromptsRepository } from './prompts.repository';
import { PromptsService } from './prompts.service';

/** Versioned prompt templates and their rendering; pipelines use PromptsService.renderForTask. */
@Module({
  imports: [CatalogModule],
  controllers: [PromptsController],
  providers: [PromptsRepository, PromptsService],
  exports: [PromptsService],
})
export class PromptsModule {}
