/** What callers hand to AuditService; actor, request id, IP and user agent default from the request context. */
export type AuditOutcome = 'success' | 'failure' | 'denied';
export type AuditActorType = 'user' | 'api_key' | 'system' | 'anonymous';

export interface AuditActor {
  readonly type: AuditActorType;
  readonly id?: string;
  readonly label?: string;
}

export interface AuditEventInput {
  /** `<resource>.<verb>`: `auth.login`, `user.create`, `authz.denied`, `tool.execute`, ... */
  readonly action: string;
  readonly outcome: AuditOutcome;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly httpStatus?: number;
  /** Free-form context; secrets are redacted by key name and by value before it is stored. */
  readonly details?: Record<string, unknown>;
  /** Default: the principal of the request context, or anonymous. */
  readonly actor?: AuditActor;
}
