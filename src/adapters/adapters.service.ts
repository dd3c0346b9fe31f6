import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { AuditService } from '../audit/audit.service';
import { AdapterCache } from '../cache/adapter-cache';
import { AppError, BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import { MetricsService } from '../observability/metrics.service';
import { assertAuthSecrets, parseConfig, parseSecrets, secretFieldsOf } from './adapter-config';
import type {
  AdapterRecord,
  AdapterType,
  PostgresAdapterConfig,
  PostgresAdapterSecrets,
  RestAdapterConfig,
  RestAdapterSecrets,
} from './adapter.types';
import { type AdapterRow, AdaptersRepository } from './adapters.repository';
import { PostgresConnector } from './postgres/postgres-connector';
import { type RestRequest, type RestResult, RestConnector } from './rest/rest-connector';
import { SecretsCipher } from './secrets-cipher';
import { SsrfGuard } from './ssrf-guard';

export interface AdapterView {
  id: string;
  name: string;
  type: AdapterType;
  description: string;
  exposeAsTool: boolean;
  config: Record<string, unknown>;
  /** Which secret fields are set; their values are never returned. */
  secretFields: string[];
  status: 'active' | 'disabled';
  createdBy: string | null;
  updatedBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface CreateAdapterInput {
  name: string;
  type: AdapterType;
  description?: string;
  exposeAsTool?: boolean;
  config: unknown;
  secrets?: unknown;
}

export interface UpdateAdapterInput {
  description?: string;
  exposeAsTool?: boolean;
  status?: 'active' | 'disabled';
  config?: unknown;
  /** Fields given replace the stored ones; a field set to null removes it. */
  secrets?: Record<string, unknown>;
}

/**
 * The adapter registry and the door to the upstreams: every call is permission-checked by the
 * route, resolved to a decrypted record here, run by the connector of its type and audited with its
 * outcome (never with secrets).
 */
@Injectable()
export class AdaptersService {
  private readonly records = new LRUCache<string, AdapterRecord>({ max: 1_000, ttl: 2_000 });

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly adapters: AdaptersRepository,
    private readonly cipher: SecretsCipher,
    private readonly ssrf: SsrfGuard,
    private readonly rest: RestConnector,
    private readonly postgres: PostgresConnector,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
    private readonly cache: AdapterCache,
    private readonly metrics: MetricsService,
  ) {}

  async list(page: number, limit: number, type?: AdapterType) {
    const result = await this.adapters.page(page, limit, type);
    return { items: result.items.map(toView), total: result.total, page, limit };
  }

  /** Active adapters with `exposeAsTool`: each becomes an MCP tool. */
  async exposedAsTools(): Promise<AdapterView[]> {
    return (await this.adapters.exposedAsTools()).map(toView);
  }

  async get(id: string): Promise<AdapterView> {
    return toView(await this.require(id));
  }

  async create(input: CreateAdapterInput): Promise<AdapterView> {
    const config = parseConfig(input.type, input.config);
    const secrets = parseSecrets(input.type, input.secrets);
    this.assertNetworkPermission(undefined, config.allowedCidrs);
    this.assertTargets(input.type, config, secrets);
    const sealed = secretFieldsOf(secrets).length === 0 ? null : this.cipher.seal(secrets);
    const row = await this.adapters.insert({
      name: input.name,
      type: input.type,
      description: input.description ?? '',
      exposeAsTool: input.exposeAsTool ?? false,
      config,
      secrets: sealed,
      secretFields: secretFieldsOf(secrets),
      actor: this.context.principal?.id ?? null,
    });
    if (row === undefined) {
      throw new ConflictError('ADAPTER_EXISTS', `An adapter named ${input.name} already exists.`, [
        { field: 'name', issue: 'taken' },
      ]);
    }
    this.context.addAuditDetails({ name: row.name, type: row.type, secretFields: row.secretFields });
    return toView(row);
  }

  async update(id: string, input: UpdateAdapterInput): Promise<AdapterView> {
    return this.txHost.withTransaction(async () => {
      const current = await this.require(id, true);
      const config = input.config === undefined ? current.config : parseConfig(current.type, input.config);
      const storedSecrets =
        current.secrets === null ? {} : this.cipher.open<Record<string, unknown>>(current.secrets);
      const merged: Record<string, unknown> = { ...storedSecrets };
      for (const [field, value] of Object.entries(input.secrets ?? {})) {
        if (value === null) delete merged[field];
        else merged[field] = value;
      }
      const secrets = parseSecrets(current.type, merged);
      this.assertNetworkPermission(
        (current.config as { allowedCidrs?: string[] }).allowedCidrs,
        (config as { allowedCidrs?: string[] }).allowedCidrs,
      );
      this.assertTargets(current.type, config, secrets);
      const fields = secretFieldsOf(secrets);
      const row = await this.adapters.update(id, {
        description: input.description ?? current.description,
        exposeAsTool: input.exposeAsTool ?? current.exposeAsTool,
        status: input.status ?? current.status,
        config,
        secrets: fields.length === 0 ? null : this.cipher.seal(secrets),
        secretFields: fields,
        actor: this.context.principal?.id ?? null,
      });
      this.postgres.evict(id);
      this.records.delete(id);
      await this.purgeCache(id);
      this.context.addAuditDetails({
        changed: Object.keys(input).filter((key) => (input as Record<string, unknown>)[key] !== undefined),
        secretFieldsChanged: Object.keys(input.secrets ?? {}).sort(),
      });
      return toView(row);
    });
  }

  async delete(id: string): Promise<void> {
    if (!(await this.adapters.delete(id))) throw adapterNotFound(id);
    this.postgres.evict(id);
    this.records.delete(id);
    await this.purgeCache(id);
  }

  /** Cached answers of a changed or removed adapter must not be served; a Redis outage is not fatal here. */
  private async purgeCache(id: string): Promise<void> {
    try {
      await this.cache.purge(id);
    } catch {
      // L1 is purged first; L2 entries expire by their TTL.
    }
  }

  async test(
    id: string,
  ): Promise<{ ok: boolean; latencyMs: number; status?: number; serverVersion?: string }> {
    const record = await this.record(id);
    return this.audited('adapter.test', record, {}, async () =>
      record.type === 'rest'
        ? this.rest.test(record as AdapterRecord<RestAdapterConfig, RestAdapterSecrets>)
        : this.postgres.test(record as AdapterRecord<PostgresAdapterConfig, PostgresAdapterSecrets>),
    );
  }

  async execute(id: string, request: RestRequest): Promise<RestResult> {
    const record = await this.record(id);
    if (record.type !== 'rest') throw wrongType(record, 'rest', 'execute');
    return this.audited(
      'adapter.execute',
      record,
      { method: request.method.toUpperCase(), path: request.path },
      () =>
        this.rest.execute(
          record as AdapterRecord<RestAdapterConfig, RestAdapterSecrets>,
          request,
          this.context.principal?.id,
        ),
      (result) => ({ status: result.status, cache: result.cache }),
    );
  }

  async query(id: string, sql: string, params: unknown[]) {
    const record = await this.record(id);
    if (record.type !== 'postgres') throw wrongType(record, 'postgres', 'query');
    return this.audited(
      'adapter.query',
      record,
      // The SQL text is recorded; parameter values are not (they may be personal data or secrets).
      { sql: sql.slice(0, 10_000), params: params.length },
      () =>
        this.postgres.query(
          record as AdapterRecord<PostgresAdapterConfig, PostgresAdapterSecrets>,
          sql,
          params,
        ),
      (result) => ({ rowCount: result.rowCount, truncated: result.truncated }),
    );
  }

  async schema(id: string, schema: string) {
    const record = await this.record(id);
    if (record.type !== 'postgres') throw wrongType(record, 'postgres', 'schema');
    return this.postgres.schema(
      record as AdapterRecord<PostgresAdapterConfig, PostgresAdapterSecrets>,
      schema,
    );
  }

  /**
   * The decrypted record connectors work with; refuses disabled adapters. Kept for 2 s per replica
   * (dropped at once here on update or delete; other replicas see a change within 2 s), so that a
   * burst of calls does not read and decrypt the same row each time.
   */
  async record(id: string): Promise<AdapterRecord> {
    const cached = this.records.get(id);
    if (cached !== undefined) return cached;
    const record = await this.load(id);
    this.records.set(id, record);
    return record;
  }

  private async load(id: string): Promise<AdapterRecord> {
    const row = await this.require(id);
    if (row.status !== 'active') {
      throw new ConflictError('ADAPTER_DISABLED', `The adapter ${row.name} is disabled.`);
    }
    return {
      id: row.id,
      name: row.name,
      type: row.type,
      config: row.config as unknown as AdapterRecord['config'],
      secrets: row.secrets === null ? {} : this.cipher.open(row.secrets),
      revision: String(row.revision),
    };
  }

  /**
   * Runs an upstream call and records one event with its outcome and duration, after the call and
   * outside any transaction (nothing here commits state; the event must exist whatever happened).
   */
  private async audited<T>(
    action: string,
    record: AdapterRecord,
    details: Record<string, unknown>,
    call: () => Promise<T>,
    summarize: (result: T) => Record<string, unknown> = () => ({}),
  ): Promise<T> {
    const started = Date.now();
    const measure = (outcome: string) =>
      this.metrics.observeAdapterRequest(record.id, record.type, outcome, (Date.now() - started) / 1000);
    try {
      const result = await call();
      measure('success');
      await this.audit.recordIndependently({
        action,
        outcome: 'success',
        resourceType: 'adapter',
        resourceId: record.id,
        httpStatus: 200,
        details: { adapter: record.name, ...details, ...summarize(result), durationMs: Date.now() - started },
      });
      return result;
    } catch (error) {
      measure(error instanceof AppError ? error.code : 'INTERNAL_ERROR');
      await this.audit.recordIndependently({
        action,
        outcome: 'failure',
        resourceType: 'adapter',
        resourceId: record.id,
        httpStatus: error instanceof AppError ? error.status : 500,
        details: {
          adapter: record.name,
          ...details,
          code: error instanceof AppError ? error.code : 'INTERNAL_ERROR',
          durationMs: Date.now() - started,
        },
      });
      throw error;
    }
  }

  private async require(id: string, lock = false): Promise<AdapterRow> {
    const row = await this.adapters.find(id, lock);
    if (row === undefined) throw adapterNotFound(id);
    return row;
  }

  private assertNetworkPermission(
    before: readonly string[] | undefined,
    after: readonly string[] | undefined,
  ): void {
    const same = JSON.stringify([...(before ?? [])].sort()) === JSON.stringify([...(after ?? [])].sort());
    if (same || this.context.principal?.permissions.has('adapters:network')) return;
    throw new ForbiddenError(
      'ADAPTER_NETWORK_PERMISSION_REQUIRED',
      'Setting config.allowedCidrs needs the adapters:network permission.',
    );
  }

  /** Literal addresses are checked when the adapter is saved; names are checked on every call. */
  private assertTargets(
    type: AdapterType,
    config: RestAdapterConfig | PostgresAdapterConfig,
    secrets: RestAdapterSecrets | PostgresAdapterSecrets,
  ): void {
    if (type === 'rest') {
      const rest = config as RestAdapterConfig;
      assertAuthSecrets(rest, secrets as RestAdapterSecrets);
      this.ssrf.assertLiteralAllowed(new URL(rest.baseUrl).hostname, rest.allowedCidrs ?? []);
      return;
    }
    const { connectionString } = secrets as PostgresAdapterSecrets;
    if (connectionString === undefined) {
      throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
        { field: 'secrets.connectionString', issue: 'is required' },
      ]);
    }
    this.postgres.assertTargetAllowed(connectionString, (config as PostgresAdapterConfig).allowedCidrs ?? []);
  }
}

function toView(row: AdapterRow): AdapterView {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    description: row.description,
    exposeAsTool: row.exposeAsTool,
    config: row.config,
    secretFields: row.secretFields,
    status: row.status,
    createdBy: row.createdBy,
    updatedBy: row.updatedBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

function adapterNotFound(id: string): NotFoundError {
  return new NotFoundError('ADAPTER_NOT_FOUND', `No adapter with id ${id}.`);
}

function wrongType(record: AdapterRecord, type: AdapterType, verb: string): BadRequestError {
  return new BadRequestError(
    'ADAPTER_TYPE_MISMATCH',
    `${verb} needs a ${type} adapter; ${record.name} is a ${record.type} adapter.`,
  );
}
