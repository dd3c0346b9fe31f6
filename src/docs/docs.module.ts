import { Module } from '@nestjs/common';
import { DocsController } from './docs.controller';
import { OpenApiDocumentHolder } from './openapi';

@Module({
  controllers: [DocsController],
  providers: [OpenApiDocumentHolder],
  exports: [OpenApiDocumentHolder],
})
export class DocsModule {}
