import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { ProductsService } from '../catalog/products.service';
import { ConflictError, NotFoundError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import { assertValidTemplate, type PromptProduct, renderPrompt } from './prompt-renderer';
import type { PromptTask } from './prompt-tasks';
import { type PromptRow, PromptsRepository } from './prompts.repository';

export interface PromptResponse {
  id: string;
  name: string;
  task: PromptTask;
  version: number;
  active: boolean;
  systemText: string;
  userTemplate: string;
  author: string;
  createdAt: string;
}

export interface PromptPage {
  items: PromptResponse[];
  total: number;
  page: number;
  limit: number;
}

/** A prompt rendered against a product: the two messages to send to the model. */
export interface RenderedPromptResponse {
  name: string;
  version: number;
  task: PromptTask;
  system: string;
  user: string;
}

/**
 * Versioned prompt templates. Writes run in one transaction (the route's, with its audit event);
 * writers of the same name are serialised by locking its rows.
 */
@Injectable()
export class PromptsService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly prompts: PromptsRepository,
    private readonly products: ProductsService,
    private readonly context: RequestContext,
  ) {}

  async list(query: { task?: PromptTask; page: number; limit: number }): Promise<PromptPage> {
    const { rows, total } = await this.prompts.listActive(
      query.task,
      (query.page - 1) * query.limit,
      query.limit,
    );
    return { items: rows.map(toPromptResponse), total, page: query.page, limit: query.limit };
  }

  /** The active version of a prompt (what the pipelines use). */
  async getActive(name: string): Promise<PromptResponse> {
    return toPromptResponse(await this.requireActive(name));
  }

  async getVersion(name: string, version: number): Promise<PromptResponse> {
    return toPromptResponse(await this.requireVersion(name, version));
  }

  async versions(name: string, page: number, limit: number): Promise<PromptPage> {
    const { rows, total } = await this.prompts.listVersions(name, (page - 1) * limit, limit);
    if (total === 0) throw promptNotFound();
    return { items: rows.map(toPromptResponse), total, page, limit };
  }

  /** Version 1 of a new prompt, active. */
  async create(input: {
    name: string;
    task: PromptTask;
    systemText: string;
    userTemplate: string;
  }): Promise<PromptResponse> {
    assertValidTemplate(input);
    return this.txHost.withTransaction(async () => {
      const row = await this.prompts.insert({ ...input, version: 1, active: true, author: this.author() });
      if (row === undefined) {
        throw new ConflictError('PROMPT_EXISTS', 'A prompt with this name already exists.', [
          { field: 'name', issue: 'taken' },
        ]);
      }
      return toPromptResponse(row);
    });
  }

  /** A new version of an existing prompt (same task); it becomes the active one unless `activate` is false. */
  async update(
    name: string,
    input: { systemText: string; userTemplate: string; activate?: boolean },
  ): Promise<PromptResponse> {
    assertValidTemplate(input);
    const activate = input.activate ?? true;
    return this.txHost.withTransaction(async () => {
      const task = await this.prompts.lockName(name);
      if (task === undefined) throw promptNotFound();
      const version = (await this.prompts.latestVersion(name)) + 1;
      if (activate) await this.prompts.deactivate(name);
      const row = await this.prompts.insert({
        name,
        task,
        systemText: input.systemText,
        userTemplate: input.userTemplate,
        version,
        active: activate,
        author: this.author(),
      });
      // The lock makes this unreachable between writers using this service; a row written around
      // it must still not turn into a duplicate version or a 500.
      if (row === undefined) {
        throw new ConflictError('PROMPT_VERSION_CONFLICT', 'The prompt changed meanwhile; try again.');
      }
      return toPromptResponse(row);
    });
  }

  async activate(name: string, version: number): Promise<PromptResponse> {
    return this.txHost.withTransaction(async () => {
      if ((await this.prompts.lockName(name)) === undefined) throw promptNotFound();
      if ((await this.prompts.findVersion(name, version)) === undefined) throw promptVersionNotFound();
      await this.prompts.activate(name, version);
      return toPromptResponse(await this.requireVersion(name, version));
    });
  }

  /** Renders a prompt (its active version, or `version`) against a stored product. */
  async preview(name: string, productId: number, version?: number): Promise<RenderedPromptResponse> {
    const prompt =
      version === undefined ? await this.requireActive(name) : await this.requireVersion(name, version);
    const product = await this.products.get(productId);
    return render(prompt, product);
  }

  /**
   * For pipelines: the active version of the task's prompt (the prompt named after the task unless
   * `name` picks another prompt of the same task) rendered against a product.
   */
  async renderForTask(
    task: PromptTask,
    product: PromptProduct,
    name: string = task,
  ): Promise<RenderedPromptResponse> {
    const prompt = await this.requireActive(name);
    if (prompt.task !== task) {
      throw new ConflictError(
        'PROMPT_TASK_MISMATCH',
        `Prompt '${name}' is for task '${prompt.task}', not '${task}'.`,
        [{ field: 'prompt', issue: 'wrong task' }],
      );
    }
    return render(prompt, product);
  }

  /** The person behind the request (an API key counts as its owner); `system` for work no one started. */
  private author(): string {
    const principal = this.context.principal;
    if (principal === undefined) return 'system';
    return principal.kind === 'api_key' ? (principal.userId ?? principal.id) : principal.id;
  }

  private async requireActive(name: string): Promise<PromptRow> {
    const row = await this.prompts.findActive(name);
    if (row === undefined) throw promptNotFound();
    return row;
  }

  private async requireVersion(name: string, version: number): Promise<PromptRow> {
    const row = await this.prompts.findVersion(name, version);
    if (row !== undefined) return row;
    throw (await this.prompts.exists(name)) ? promptVersionNotFound() : promptNotFound();
  }
}

function promptNotFound(): NotFoundError {
  return new NotFoundError('PROMPT_NOT_FOUND', 'No such prompt.');
}

function promptVersionNotFound(): NotFoundError {
  return new NotFoundError('PROMPT_VERSION_NOT_FOUND', 'The prompt has no such version.');
}

function render(prompt: PromptRow, product: PromptProduct): RenderedPromptResponse {
  const { system, user } = renderPrompt(prompt, product);
  return { name: prompt.name, version: prompt.version, task: prompt.task, system, user };
}

function toPromptResponse(row: PromptRow): PromptResponse {
  return {
    id: row.id,
    name: row.name,
    task: row.task,
    version: row.version,
    active: row.active,
    systemText: row.systemText,
    userTemplate: row.userTemplate,
    author: row.author,
    createdAt: row.createdAt.toISOString(),
  };
}
