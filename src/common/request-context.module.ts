import { ClsPluginTransactional } from '@nestjs-cls/transactional';
import { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Global, Module } from '@nestjs/common';
import { ClsModule } from 'nestjs-cls';
import { DataSource } from 'typeorm';
import { DatabaseModule } from '../database/database.module';
import type { TaggedRequest } from '../observability/logging';
import { RequestContext } from './request-context';

@Global()
@Module({
  imports: [
    ClsModule.forRoot({
      global: true,
      middleware: {
        mount: true,
        generateId: true,
        // No proxy providers are used; resolving them costs every request a module lookup.
        resolveProxyProviders: false,
        // Fastify's genReqId has already chosen the request id and put it on the raw request.
        idGenerator: (req: TaggedRequest) => req.id as string,
      },
      plugins: [
        new ClsPluginTransactional({
          imports: [DatabaseModule],
          adapter: new TransactionalAdapterTypeOrm({ dataSourceToken: DataSource }),
          enableTransactionProxy: false,
        }),
      ],
    }),
  ],
  providers: [RequestContext],
  exports: [RequestContext],
})
export class RequestContextModule {}
