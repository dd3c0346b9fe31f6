import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { JWT_KEYS, resolveJwtKeys } from './jwt-keys';

@Module({
  providers: [
    {
      provide: JWT_KEYS,
      inject: [APP_CONFIG, DataSource],
      useFactory: (config: AppConfig, dataSource: DataSource) => resolveJwtKeys(config, dataSource),
    },
  ],
  exports: [JWT_KEYS],
})
export class JwtKeysModule {}
