import { Module } from '@nestjs/common';
import { ObservabilityModule } from '../observability/observability.module';
import { CatalogModule } from '../catalog/catalog.module';
import { PipelinesModule } from '../pipelines/pipelines.module';
import { PromptsModule } from '../prompts/prompts.module';
import { ToolsModule } from '../tools/tools.module';
import { McpCatalog } from './mcp-catalog';
import { McpRequestGuard } from './mcp-request.guard';
import { McpServerFactory } from './mcp-server.factory';
import { McpSessionDirectory } from './mcp-session-directory';
import { McpSessions } from './mcp-sessions';
import { McpController } from './mcp.controller';
import { WellKnownController } from './well-known.controller';

/** The MCP server: Streamable HTTP and legacy SSE transports over the tool registry, resources and prompts. */
@Module({
  imports: [ObservabilityModule, ToolsModule, CatalogModule, PipelinesModule, PromptsModule],
  controllers: [McpController, WellKnownController],
  providers: [McpSessionDirectory, McpSessions, McpServerFactory, McpCatalog, McpRequestGuard],
})
export class McpModule {}
