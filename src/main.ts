import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.setup';
import { ConfigError, loadConfig, loadDotEnvFile } from './config/load-config';
import type { AppConfig } from './config/app-config';
import { closeGracefully } from './observability/shutdown.service';

async function bootstrap(config: AppConfig): Promise<void> {
  const app = await createApp(config);
  const logger = new Logger('Bootstrap');
  await app.listen({ port: config.http.port, host: config.http.host });
  logger.log(`MCP Admin listening on ${config.http.host}:${config.http.port} (${config.http.publicBaseUrl})`);

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
