import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { ChangesModule } from '../changes/changes.module';
import { LlmModule } from '../llm/llm.module';
import { PromptsModule } from '../prompts/prompts.module';
import { PipelineEngine } from './pipeline-engine';
import { PipelineEvents } from './pipeline-events';
import { PipelineRunsController } from './pipeline-runs.controller';
import { PipelineRunsRepository } from './pipeline-runs.repository';
import { PipelineRunsService } from './pipeline-runs.service';

@Module({
  imports: [CatalogModule, ChangesModule, PromptsModule, LlmModule],
  controllers: [PipelineRunsController],
  providers: [PipelineRunsRepository, PipelineEngine, PipelineRunsService, PipelineEvents],
  exports: [PipelineRunsService],
})
export class PipelinesModule {}
