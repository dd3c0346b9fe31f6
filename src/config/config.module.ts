import { type DynamicModule, Global, Inject, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from './app-config';

/** Makes the configuration loaded at boot injectable everywhere with `@InjectConfig()`. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}

export const InjectConfig = (): PropertyDecorator & ParameterDecorator => Inject(APP_CONFIG);
