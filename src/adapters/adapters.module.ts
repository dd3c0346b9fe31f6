import { Module } from '@nestjs/common';
import { SchemaModule } from '../schema/schema.module';
import { AdaptersController } from './adapters.controller';
import { AdaptersRepository } from './adapters.repository';
import { AdaptersService } from './adapters.service';
import { PostgresConnector } from './postgres/postgres-connector';
import { RestConnector } from './rest/rest-connector';
import { SecretsCipher } from './secrets-cipher';
import { SsrfGuard } from './ssrf-guard';

@Module({
  imports: [SchemaModule],
  controllers: [AdaptersController],
  providers: [
    AdaptersRepository,
    AdaptersService,
    SecretsCipher,
    SsrfGuard,
    RestConnector,
    PostgresConnector,
  ],
  exports: [AdaptersService, SsrfGuard, SecretsCipher],
})
export class AdaptersModule {}
