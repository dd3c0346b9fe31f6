import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ObservabilityModule } from '../observability/observability.module';
import { LlmModelsService } from './llm-models.service';
import { LlmPullsRepository } from './llm-pulls.repository';
import { LlmPullsService } from './llm-pulls.service';
import { LlmController } from './llm.controller';
import { LLM_PROVIDER_CLIENT, LlmService } from './llm.service';
import type { LlmProvider } from './llm.types';
import { OllamaProvider } from './ollama.provider';
import { OpenAiProvider } from './openai.provider';

/** Builds the client LLM_PROVIDER names; a provider without its URL refuses to start. */
export function createLlmProvider(config: AppConfig): LlmProvider {
  switch (config.llm.provider) {
    case 'ollama':
      return new OllamaProvider(config.llm.ollamaUrl);
    case 'openai':
      if (config.llm.openaiBaseUrl === undefined) {
        throw new Error('LLM_PROVIDER=openai needs OPENAI_BASE_URL (including /v1)');
      }
      return new OpenAiProvider(config.llm.openaiBaseUrl, config.llm.openaiApiKey);
  }
}

/** LLM providers and model administration; pipelines use LlmService.chat. */
@Module({
  imports: [ObservabilityModule],
  controllers: [LlmController],
  providers: [
    { provide: LLM_PROVIDER_CLIENT, useFactory: createLlmProvider, inject: [APP_CONFIG] },
    LlmService,
    LlmModelsService,
    LlmPullsRepository,
    LlmPullsService,
  ],
  exports: [LlmService],
})
export class LlmModule {}
