import type { DynamicModule, Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Writable } from 'node:stream';
import { createApp } from '../../src/app.setup';
import type { AppConfig } from '../../src/config/app-config';
import { loadConfig } from '../../src/config/load-config';
import { ProbeModule } from './probe.module';
import type { TestDatabase } from './test-database';

export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
export const TEST_ADMIN = { email: 'admin@example.com', password: 'admin-password-for-tests' };

export interface TestApp {
  readonly app: NestFastifyApplication;
  readonly config: AppConfig;
  /** Log lines written so far, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** The base URL when started with `listen: true`. */
  readonly baseUrl: string;
  close(): Promise<void>;
}

/** Boots the real AppModule (plus probe routes) on the given database, the way main.ts does. */
export async function startTestApp(
  database: Pick<TestDatabase, 'url' | 'poolSize'> | undefined,
  env: Record<string, string> = {},
  options: {
    listen?: boolean;
    /** The loopback port to listen on (default: any free one); lets PUBLIC_BASE_URL name the real address. */
    port?: number;
    probe?: boolean;
    imports?: Array<Type | DynamicModule>;
  } = {},
): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    JWT_SECRET: TEST_JWT_SECRET,
    ADMIN_EMAIL: TEST_ADMIN.email,
    ADMIN_PASSWORD: TEST_ADMIN.password,
    ...(database === undefined
      ? {}
      : { DATABASE_URL: database.url, DB_POOL_SIZE: String(database.poolSize) }),
    ...env,
  });
  const logs: Array<Record<string, unknown>> = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  const app = await createApp(config, {
    imports: [...(options.probe === false ? [] : [ProbeModule]), ...(options.imports ?? [])],
    logDestination,
  });
  let baseUrl = '';
  try {
    if (options.listen) {
      await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
      baseUrl = await app.getUrl();
    } else {
      await app.init();
      await app.getHttpAdapter().getInstance().ready();
    }
  } catch (error) {
    await app.close();
    throw error;
  }
  return { app, config, logs, baseUrl, close: () => app.close() };
}
