import { Module } from '@nestjs/common';
import { ObservabilityModule } from '../observability/observability.module';
import { AdaptersModule } from '../adapters/adapters.module';
import { AdaptersService } from '../adapters/adapters.service';
import { CatalogModule } from '../catalog/catalog.module';
import { ChangesModule } from '../changes/changes.module';
import { RequestContext } from '../common/request-context';
import { LlmModule } from '../llm/llm.module';
import { PipelinesModule } from '../pipelines/pipelines.module';
import { CatalogTools } from './catalog-tools';
import { CodegenTool } from './codegen-tool';
import { PipelineTools } from './pipeline-tools';
import { ToolRateLimiter } from './tool-rate-limiter';
import { BUILT_IN_TOOLS, ToolRegistry } from './tool-registry';
import type { ToolDefinition } from './tool.types';
import { ToolsController } from './tools.controller';
import { ToolsService } from './tools.service';

/** The tool registry, the built-in tools and the REST face of it; MCP serves the same ToolsService. */
@Module({
  imports: [ObservabilityModule, CatalogModule, ChangesModule, PipelinesModule, AdaptersModule, LlmModule],
  controllers: [ToolsController],
  providers: [
    CatalogTools,
    PipelineTools,
    CodegenTool,
    {
      provide: BUILT_IN_TOOLS,
      inject: [CatalogTools, PipelineTools, CodegenTool],
      useFactory: (
        catalog: CatalogTools,
        pipelines: PipelineTools,
        codegen: CodegenTool,
      ): ToolDefinition[] => [...catalog.definitions(), ...pipelines.definitions(), codegen.definition()],
    },
    {
      provide: ToolRegistry,
      inject: [BUILT_IN_TOOLS, AdaptersService, RequestContext],
      useFactory: (tools: ToolDefinition[], adapters: AdaptersService, context: RequestContext) =>
        new ToolRegistry(tools, adapters, context),
    },
    ToolRateLimiter,
    ToolsService,
  ],
  exports: [ToolsService],
})
export class ToolsModule {}
