import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../authz/route-access.decorators';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { SUPPORTED_SCOPES } from './oauth-scopes';

/** Authorization server metadata (RFC 8414), where MCP clients discover the endpoints below /oauth. */
@Controller('.well-known')
@ApiTags('oauth')
@Public()
export class AuthorizationServerMetadataController {
  constructor(@InjectConfig() private readonly config: AppConfig) {}

  @Get('oauth-authorization-server')
  @ApiOperation({ summary: 'OAuth authorization server metadata (RFC 8414)' })
  metadata() {
    const issuer = this.config.http.publicBaseUrl;
    return {
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      registration_endpoint: `${issuer}/oauth/register`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      scopes_supported: SUPPORTED_SCOPES,
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: true,
    };
  }
}
