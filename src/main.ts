import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import type { AppConfig } from './config/app-config';
import { ConfigError, loadConfig, loadDotEnvFile } from './config/load-config';
import { startTracing, stopTracing } from './observability/tracing';

async function bootstrap(config: AppConfig): Promise<void> {
  // Tracing instruments `http`, `pg` and `ioredis` as they are first loaded: it starts before the
  // application's modules are imported, which is why they are imported here and not at the top.
  const tracing = await startTracing(config.otel.endpoint);
  const { createApp } = await import('./app.setup');
  const { closeGracefully } = await import('./observability/shutdown.service');

  const app = await createApp(config);
  const logger = new Logger('Bootstrap');
  await app.listen({ port: config.http.port, host: config.http.host });
  logger.log(`MCP Admin listening on ${config.http.host}:${config.http.port} (${config.http.publicBaseUrl})`);
  if (tracing) logger.log(`Tracing on: spans of ${tracing.serviceName} go to ${tracing.exportUrl}`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // A hard stop in case a shutdown hook hangs past the grace period.
    setTimeout(() => {
      logger.error('Shutdown did not finish in time; exiting');
      process.exit(1);
    }, config.http.shutdownGraceMs + 10_000).unref();
    closeGracefully(app)
      // After the drain, so that the spans of the last requests are exported too.
      .finally(stopTracing)
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error(`Shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

let config: AppConfig;
try {
  loadDotEnvFile();
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
bootstrap(config).catch((error: unknown) => {
  new Logger('Bootstrap').error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
