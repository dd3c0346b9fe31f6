import { Injectable } from '@nestjs/common';
import { AppDatabaseExecutor } from './app-database.executor';
import { SchemaIntrospector } from './schema-introspector';
import type { SchemaDescription } from './schema.types';

export const DEFAULT_SCHEMA = 'public';

/** Introspection of the application's own database. */
@Injectable()
export class SchemaService {
  constructor(
    private readonly introspector: SchemaIntrospector,
    private readonly executor: AppDatabaseExecutor,
  ) {}

  describe(schema: string = DEFAULT_SCHEMA): Promise<SchemaDescription> {
    return this.introspector.introspect(this.executor, schema);
  }
}
