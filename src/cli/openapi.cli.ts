import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppModule } from '../app.module';
import { loadConfig } from '../config/load-config';
import { renderOpenApiMarkdown } from '../docs/openapi-markdown';
import { buildOpenApiDocument } from '../docs/openapi';

/**
 * `npm run docs:api`: writes docs/API.md from the OpenAPI document. The app is created in preview
 * mode (no provider runs, no database), so the output depends on the code alone.
 */
async function main(): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(loadConfig({})),
    new FastifyAdapter(),
    {
      preview: true,
      logger: false,
    },
  );
  const document = buildOpenApiDocument(app);
  const target = join(__dirname, '..', '..', 'docs', 'API.md');
  writeFileSync(target, renderOpenApiMarkdown(document));
  await app.close();
  process.stdout.write(`Wrote ${target}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
