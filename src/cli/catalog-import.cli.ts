import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SingleBar } from 'cli-progress';
import { existsSync } from 'node:fs';
import { AuditModule } from '../audit/audit.module';
import { AuditService } from '../audit/audit.service';
import { CategoryAssigner } from '../catalog/category-assigner';
import {
  CatalogImporter,
  type BatchResult,
  type Rejection,
  type SourceRecord,
} from '../catalog/import/catalog-importer';
import { IMPORT_BATCH_SIZE } from '../catalog/import/catalog-imports.service';
import { CatalogWriterRepository } from '../catalog/import/catalog-writer.repository';
import { importFiles, readImportFile } from '../catalog/import/import-source';
import { ChangesRepository } from '../changes/changes.repository';
import { RequestContext } from '../common/request-context';
import { RequestContextModule } from '../common/request-context.module';
import { ConfigModule } from '../config/config.module';
import { ConfigError, loadConfig } from '../config/load-config';
import { DatabaseModule } from '../database/database.module';
import { EmbeddedDatabaseInUseError } from '../database/embedded-postgres';
import { TaxonomyModule } from '../taxonomy/taxonomy.module';
import { type CliOutput, runAsMain, stdio } from './cli-io';
import { statSync } from 'node:fs';

const USAGE =
  'usage: npm run catalog:import -- <file | directory> (JSON, {"products": [...]}, NDJSON; .gz too)';
/** Rejections printed in the summary; the count is always complete. */
const MAX_PRINTED_REJECTIONS = 100;

@Module({
  imports: [TaxonomyModule],
  providers: [CatalogImporter, CatalogWriterRepository, ChangesRepository, CategoryAssigner],
})
class CatalogImportCliModule {}

export interface ImportSummary {
  files: number;
  records: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: Array<Rejection & { file: string }>;
  rejectedCount: number;
}

/**
 * `npm run catalog:import -- <file|dir>`: streams the files through the importer in batches, with a
 * progress bar on stderr (when it is a terminal) and a summary on stdout. Exit codes: 0 everything
 * imported, 3 finished with rejected products, 1 could not run, 2 usage.
 */
export async function runCatalogImportCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliOutput & { progress?: boolean } = { ...stdio, progress: process.stderr.isTTY },
): Promise<number> {
  const [path] = argv;
  if (path === undefined || argv.length !== 1) {
    io.err(USAGE);
    return 2;
  }
  if (!existsSync(path)) {
    io.err(`No such file or directory: ${path}`);
    return 2;
  }
  const files = importFiles(path);
  if (files.length === 0) {
    io.err(`${path} has no .json, .ndjson, .jsonl or .gz files`);
    return 2;
  }
  let app;
  try {
    const config = loadConfig(env);
    app = await NestFactory.createApplicationContext(
      {
        module: CatalogImportCliModule,
        imports: [ConfigModule.forRoot(config), DatabaseModule, RequestContextModule, AuditModule],
      },
      { logger: ['error', 'warn'] },
    );
  } catch (error) {
    if (error instanceof EmbeddedDatabaseInUseError || error instanceof ConfigError) {
      io.err(error.message);
      return 1;
    }
    throw error;
  }
  try {
    const summary = await app
      .get(RequestContext)
      .run(() => importAll(files, app.get(CatalogImporter), app.get(AuditService), io), {
        principal: {
          kind: 'system',
          id: 'catalog-import-cli',
          label: 'catalog import (CLI)',
          permissions: new Set(),
        },
      });
    printSummary(summary, io);
    return summary.rejectedCount > 0 ? 3 : 0;
  } finally {
    await app.close();
  }
}

async function importAll(
  files: string[],
  importer: CatalogImporter,
  audit: AuditService,
  io: CliOutput & { progress?: boolean },
): Promise<ImportSummary> {
  const summary: ImportSummary = {
    files: files.length,
    records: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    rejected: [],
    rejectedCount: 0,
  };
  const totalBytes = files.reduce((sum, file) => sum + statSync(file).size, 0);
  const bar = io.progress
    ? new SingleBar({
        format: 'importing [{bar}] {percentage}% | {records} products | {file}',
        hideCursor: true,
        stream: process.stderr,
      })
    : undefined;
  bar?.start(totalBytes, 0, { records: 0, file: '' });
  const add = (result: BatchResult, file: string) => {
    summary.created += result.created;
    summary.updated += result.updated;
    summary.unchanged += result.unchanged;
    summary.rejectedCount += result.rejected.length;
    for (const rejection of result.rejected) {
      if (summary.rejected.length < MAX_PRINTED_REJECTIONS) summary.rejected.push({ ...rejection, file });
    }
  };
  try {
    for (const file of files) {
      let batch: SourceRecord[] = [];
      let position = 0;
      for await (const record of readImportFile(file, (bytes) => bar?.increment(bytes))) {
        position++;
        summary.records++;
        batch.push(
          'malformed' in record
            ? { position, malformed: record.malformed }
            : { position, value: record.value },
        );
        if (batch.length >= IMPORT_BATCH_SIZE) {
          add(await importer.importBatch(batch), file);
          batch = [];
          bar?.update({ records: summary.records, file });
        }
      }
      if (batch.length > 0) add(await importer.importBatch(batch), file);
      bar?.update({ records: summary.records, file });
    }
  } finally {
    bar?.stop();
  }
  await importer.refreshStatistics();
  await audit.recordIndependently({
    action: 'import.complete',
    outcome: 'success',
    resourceType: 'import',
    details: {
      via: 'cli',
      files: files.length,
      total: summary.records,
      created: summary.created,
      updated: summary.updated,
      unchanged: summary.unchanged,
      rejected: summary.rejectedCount,
    },
  });
  return summary;
}

function printSummary(summary: ImportSummary, io: CliOutput): void {
  io.out(
    `Imported ${summary.records} products from ${summary.files} file(s): ${summary.created} created, ` +
      `${summary.updated} updated, ${summary.unchanged} unchanged, ${summary.rejectedCount} rejected.`,
  );
  for (const rejection of summary.rejected) {
    const who = rejection.id === null ? '' : ` (id ${rejection.id})`;
    io.out(`  rejected: ${rejection.file} #${rejection.position}${who}: ${rejection.reasons.join('; ')}`);
  }
  if (summary.rejectedCount > summary.rejected.length) {
    io.out(`  ... and ${summary.rejectedCount - summary.rejected.length} more rejected`);
  }
}

if (require.main === module) runAsMain(() => runCatalogImportCli(process.argv.slice(2)));
