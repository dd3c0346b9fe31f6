import { Module } from '@nestjs/common';
import { ObservabilityModule } from '../observability/observability.module';
import { AdaptersModule } from '../adapters/adapters.module';
import { AdaptersService } from '../adapters/adapters.service';
import { CatalogModule } from '../catalog/catalog.module';
import { ChangesModule } from '../changes/changes.module';
import { RequestContext } from '../common/request-context';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { LlmModule } from '../llm/llm.module';
import { PipelinesModule } from '../pipelines/pipelines.module';
import { CatalogTools } from './catalog-tools';
import { CodegenTool } from './codegen-tool';
import { FsSandbox } from './fs/fs-sandbox';
import { fsTools } from './fs/fs-tools';
import { CommandPolicy } from './shell/command-policy';
import { CommandRunner } from './shell/command-runner';
import { shellTool } from './shell/shell-tool';
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
      inject: [APP_CONFIG, CatalogTools, PipelineTools, CodegenTool],
      useFactory: async (
        config: AppConfig,
        catalog: CatalogTools,
        pipelines: PipelineTools,
        codegen: CodegenTool,
      ): Promise<ToolDefinition[]> => {
        const sandbox = await FsSandbox.open(config.tools.fsRoot, config.tools.fsMaxFileBytes);
        return [
          ...catalog.definitions(),
          ...pipelines.definitions(),
          codegen.definition(),
          ...fsTools(sandbox),
          // Not offered at all unless enabled; a malformed allowlist stops the boot with every problem named.
          ...(config.tools.shellEnabled
            ? [shellTool(CommandPolicy.parse(config.tools.shellAllowlist), new CommandRunner(sandbox.root))]
            : []),
        ];
      },
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
