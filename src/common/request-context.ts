import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CLS_ID, ClsService, type ClsStore } from 'nestjs-cls';

/**
 * Who is acting. Authentication fills it in; workers and CLIs act as a named system principal.
 * `id` is the user id for users, the key id for API keys; `userId` is always the human behind it.
 */
export interface Principal {
  readonly kind: 'user' | 'api_key' | 'system';
  readonly id: string;
  readonly userId?: string;
  /** Email for users, key name for API keys, a component name for system principals. */
  readonly label: string;
  /** Effective permissions (for a key: its own intersected with its owner's current ones). */
  readonly permissions: ReadonlySet<string>;
  /** The login session of a user's access token. */
  readonly sessionId?: string;
  readonly mustChangePassword?: boolean;
}

/** Where the request came from, for audit events. */
export interface ClientInfo {
  readonly ip?: string;
  readonly userAgent?: string;
}

interface RequestContextStore extends ClsStore {
  principal?: Principal;
  client?: ClientInfo;
  auditDetails?: Record<string, unknown>;
}

/**
 * The unit of work's context (AsyncLocalStorage via nestjs-cls): request id, principal and, through
 * @nestjs-cls/transactional's TransactionHost, the open database transaction. HTTP requests get one
 * from the middleware; MCP handlers, job workers and CLIs open one with `run`.
 */
@Injectable()
export class RequestContext {
  constructor(private readonly cls: ClsService<RequestContextStore>) {}

  get requestId(): string | undefined {
    return this.cls.isActive() ? this.cls.getId() : undefined;
  }

  get principal(): Principal | undefined {
    return this.cls.isActive() ? this.cls.get('principal') : undefined;
  }

  setPrincipal(principal: Principal): void {
    this.cls.set('principal', principal);
  }

  get client(): ClientInfo | undefined {
    return this.cls.isActive() ? this.cls.get('client') : undefined;
  }

  setClient(client: ClientInfo): void {
    this.cls.set('client', client);
  }

  /**
   * Details for the success event of an @Audited route (what exactly changed), added by the service
   * doing the work; the audit interceptor attaches them to the event it records.
   */
  addAuditDetails(details: Record<string, unknown>): void {
    if (!this.cls.isActive()) return;
    // Mutated in place: nested units of work (transactions) run in child contexts that share it.
    const bag = this.cls.get('auditDetails');
    if (bag === undefined) this.cls.set('auditDetails', { ...details });
    else Object.assign(bag, details);
  }

  /** Starts an empty set of audit details that units of work nested in this context add to. */
  beginAuditDetails(): void {
    if (this.cls.isActive()) this.cls.set('auditDetails', {});
  }

  get auditDetails(): Record<string, unknown> | undefined {
    return this.cls.isActive() ? this.cls.get('auditDetails') : undefined;
  }

  /** Runs `work` in a fresh context (a job, a CLI command, an MCP message outside an HTTP request). */
  run<T>(work: () => Promise<T>, options: { requestId?: string; principal?: Principal } = {}): Promise<T> {
    return this.cls.run(() => {
      this.cls.set(CLS_ID, options.requestId ?? randomUUID());
      if (options.principal !== undefined) this.cls.set('principal', options.principal);
      return work();
    });
  }
}
