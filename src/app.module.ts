import { type DynamicModule, type ForwardReference, Module, type Type } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { AuthenticationGuard } from './auth/authentication.guard';
import { AdaptersModule } from './adapters/adapters.module';
import { CacheModule } from './cache/cache.module';
import { AuthorizationGuard } from './authz/authorization.guard';
import { AllExceptionsFilter } from './common/all-exceptions.filter';
import { RequestContextModule } from './common/request-context.module';
import { createValidationPipe } from './common/validation';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { CatalogModule } from './catalog/catalog.module';
import { ChangesModule } from './changes/changes.module';
import { DocsModule } from './docs/docs.module';
import { IdempotencyModule } from './idempotency/idempotency.module';
import { JobsModule } from './jobs/jobs.module';
import { LlmModule } from './llm/llm.module';
import { PipelinesModule } from './pipelines/pipelines.module';
import { PromptsModule } from './prompts/prompts.module';
import { SchemaModule } from './schema/schema.module';
import { TaxonomyModule } from './taxonomy/taxonomy.module';
import { ToolsModule } from './tools/tools.module';
import { McpModule } from './mcp/mcp.module';
import { OAuthModule } from './oauth/oauth.module';
import { createRootLogger, loggerOptions, ROOT_LOGGER } from './observability/logging';
import { ObservabilityModule } from './observability/observability.module';
import { RateLimitGuard } from './rate-limit/rate-limit.guard';
import { RateLimitModule } from './rate-limit/rate-limit.module';
import { RedisModule } from './redis/redis.module';
import { RetentionModule } from './retention/retention.module';

/**
 * Wires the feature modules and registers every global guard, pipe and filter as an APP_* provider.
 * Guards run in the order listed here.
 */
@Module({})
export class AppModule {
  /** `options.imports` lets tests mount probe controllers beside the real modules. */
  static forRoot(
    config: AppConfig,
    options: {
      imports?: Array<Type | DynamicModule | ForwardReference>;
      logDestination?: DestinationStream;
    } = {},
  ): DynamicModule {
    const rootLogger = createRootLogger(config, options.logDestination);
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerOptions(rootLogger)),
        DatabaseModule,
        RequestContextModule,
        RedisModule,
        RateLimitModule,
        ObservabilityModule,
        AuditModule,
        AuthModule,
        DocsModule,
        JobsModule,
        IdempotencyModule,
        TaxonomyModule,
        CatalogModule,
        ChangesModule,
        SchemaModule,
        PromptsModule,
        CacheModule,
        AdaptersModule,
        LlmModule,
        PipelinesModule,
        RetentionModule,
        ToolsModule,
        McpModule,
        OAuthModule,
        ...(options.imports ?? []),
      ],
      providers: [
        { provide: ROOT_LOGGER, useValue: rootLogger },
        // Identify the caller, count the request against their limit, then decide.
        { provide: APP_GUARD, useExisting: AuthenticationGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_GUARD, useExisting: AuthorizationGuard },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
      ],
    };
  }
}
