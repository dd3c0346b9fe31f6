import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CLS_ID, ClsService, type ClsStore } from 'nestjs-cls';

/** Who is acting. Authentication fills it in; workers and CLIs act as a named system principal. */
export interface Principal {
  readonly id: string;
  readonly kind: 'user' | 'api_key' | 'oauth_client' | 'system';
  readonly displayName?: string;
}

interface RequestContextStore extends ClsStore {
  principal?: Principal;
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

  /** Runs `work` in a fresh context (a job, a CLI command, an MCP message outside an HTTP request). */
  run<T>(work: () => Promise<T>, options: { requestId?: string; principal?: Principal } = {}): Promise<T> {
    return this.cls.run(() => {
      this.cls.set(CLS_ID, options.requestId ?? randomUUID());
      if (options.principal !== undefined) this.cls.set('principal', options.principal);
      return work();
    });
  }
}
