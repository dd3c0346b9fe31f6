import { Module } from '@nestjs/common';
import { AdaptersModule } from '../adapters/adapters.module';
import { AuthModule } from '../auth/auth.module';
import { JwtKeysModule } from '../auth/jwt-keys.module';
import { AuthorizationServerMetadataController } from './authorization-server-metadata.controller';
import { ClientMetadataDocuments } from './client-metadata-documents';
import { OAuthClientsController } from './oauth-clients.controller';
import { OAuthClientsRepository } from './oauth-clients.repository';
import { OAuthClientsService } from './oauth-clients.service';
import { OAuthCodesRepository } from './oauth-codes.repository';
import { OAuthController } from './oauth.controller';
import { OAuthService } from './oauth.service';
import { SignedState } from './signed-state';

/** The OAuth 2.1 authorization server for MCP clients (docs/OAUTH.md). */
@Module({
  imports: [AuthModule, JwtKeysModule, AdaptersModule],
  controllers: [OAuthController, OAuthClientsController, AuthorizationServerMetadataController],
  providers: [
    OAuthService,
    OAuthClientsService,
    OAuthClientsRepository,
    OAuthCodesRepository,
    ClientMetadataDocuments,
    SignedState,
  ],
})
export class OAuthModule {}
