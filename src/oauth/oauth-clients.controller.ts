import { Delete, Get, HttpCode, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation } from '@nestjs/swagger';
import { IsString, MaxLength } from 'class-validator';
import { Audited } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { ApiController } from '../common/api-controller.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { OAuthClientsService } from './oauth-clients.service';

class ClientIdParam {
  @IsString()
  @MaxLength(2048)
  clientId!: string;
}

/** Administration of OAuth clients: who registered, how many grants each holds; revoking one ends them all. */
@ApiController('oauth/clients', 'oauth')
@ApiBearerAuth()
export class OAuthClientsController {
  constructor(private readonly clients: OAuthClientsService) {}

  @Get()
  @RequirePermissions('users:write')
  @ApiOperation({ summary: 'OAuth clients with their active grants' })
  list(@Query() { page, limit }: PageQueryDto) {
    return this.clients.list(page, limit);
  }

  @Delete(':clientId')
  @HttpCode(204)
  @RequirePermissions('users:write')
  @Audited({
    action: 'oauth.client_revoke',
    resourceType: 'oauth_client',
    resourceId: (_result, request) => (request.params as { clientId?: string }).clientId,
  })
  @ApiOperation({ summary: 'Revoke a client and every grant it holds' })
  async revoke(@Param() { clientId }: ClientIdParam): Promise<void> {
    await this.clients.revoke(clientId);
  }
}
