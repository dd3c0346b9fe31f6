import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../authz/route-access.decorators';
import { mcpResourceUrl } from '../common/mcp-resource';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { SUPPORTED_SCOPES } from '../oauth/oauth-scopes';

/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) of the MCP endpoint, named by the
 * `resource_metadata` of every MCP 401: the resource identifier, how tokens are presented, and the
 * authorization server that issues them (this service, docs/OAUTH.md).
 */
@Controller('.well-known')
@ApiTags('mcp')
@Public()
export class WellKnownController {
  constructor(@InjectConfig() private readonly config: AppConfig) {}

  @Get('oauth-protected-resource/mcp')
  @ApiOperation({ summary: 'Protected resource metadata of /mcp (RFC 9728)' })
  protectedResource() {
    const base = this.config.http.publicBaseUrl;
    return {
      resource: mcpResourceUrl(base),
      resource_name: 'MCP Admin',
      authorization_servers: [base],
      bearer_methods_supported: ['header'],
      scopes_supported: SUPPORTED_SCOPES,
    };
  }
}
