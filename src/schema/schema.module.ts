import { Module } from '@nestjs/common';
import { AppDatabaseExecutor } from './app-database.executor';
import { SchemaIntrospector } from './schema-introspector';
import { SchemaController } from './schema.controller';
import { SchemaService } from './schema.service';

/**
 * Schema introspection. SchemaIntrospector works over any QueryExecutor and is exported for the
 * Postgres adapters; AppDatabaseExecutor reads the application database. Relies on the global
 * DataSource.
 */
@Module({
  controllers: [SchemaController],
  providers: [SchemaIntrospector, AppDatabaseExecutor, SchemaService],
  exports: [SchemaIntrospector],
})
export class SchemaModule {}
