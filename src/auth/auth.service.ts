import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import {
  BadRequestError,
  NotFoundError,
  TooManyRequestsError,
  UnauthenticatedError,
} from '../common/app-error';
import { type Principal, RequestContext } from '../common/request-context';
import { MetricsService } from '../observability/metrics.service';
import { checkPasswordPolicy } from './password-policy';
import { PrincipalsService, type UserProfile } from './principals.service';
import { RefreshTokenRotation } from './refresh-token-rotation';
import { hashPassword, verifyPassword } from './secrets';
import { type SessionRow, SessionsRepository } from './sessions.repository';
import { type TokenPair, TokensService } from './tokens.service';
import { type UserRow, UsersRepository } from './users.repository';

/** Failures before an account locks, and how the lock grows: 30 s, 60 s, 120 s, ... up to 15 min. */
const FAILURES_BEFORE_LOCK = 5;
const BASE_LOCK_SECONDS = 30;
const MAX_LOCK_SECONDS = 15 * 60;

const BAD_CREDENTIALS = () =>
  new UnauthenticatedError('INVALID_CREDENTIALS', 'The email or password is wrong.');

export interface MeResponse extends UserProfile {
  permissions: string[];
}

export interface SessionResponse {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
  /** For OAuth grants: the client it was given to and the scopes granted. */
  oauthClientId: string | null;
  scopes: string[] | null;
}

@Injectable()
export class AuthService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly users: UsersRepository,
    private readonly sessions: SessionsRepository,
    private readonly tokens: TokensService,
    private readonly rotation: RefreshTokenRotation,
    private readonly principals: PrincipalsService,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Checks an email and password with the lockout rules (the API's sign-in and the OAuth sign-in page
   * alike). Unknown email, disabled account and wrong password give the same 401 after the same
   * argon2 work; a locked account 429. A refusal leaves its `auth.login_failed` event, committed; the
   * caller records the `auth.login` of a success.
   */
  async verifyCredentials(email: string, password: string): Promise<UserRow> {
    const user = await this.users.findByEmail(email);
    const now = new Date();
    const failed = (reason: 'bad_credentials' | 'locked', actorId?: string) =>
      this.audit.record({
        action: 'auth.login_failed',
        outcome: 'failure',
        resourceType: 'user',
        resourceId: actorId,
        httpStatus: reason === 'locked' ? 429 : 401,
        details: { reason, email: email.toLowerCase().slice(0, 254) },
        actor: {
          type: actorId === undefined ? 'anonymous' : 'user',
          id: actorId,
          label: email.slice(0, 254),
        },
      });

    if (user === undefined || user.status !== 'active') {
      await verifyPassword(undefined, password);
      await this.txHost.withTransaction(() => failed('bad_credentials', user?.id));
      this.metrics.observeAuthFailure('bad_credentials');
      throw BAD_CREDENTIALS();
    }
    if (user.lockedUntil !== null && user.lockedUntil > now) {
      await verifyPassword(undefined, password);
      await this.txHost.withTransaction(() => failed('locked', user.id));
      this.metrics.observeAuthFailure('locked');
      throw lockedError(user.lockedUntil);
    }
    if (!(await verifyPassword(user.passwordHash, password))) {
      const becameLocked = await this.txHost.withTransaction(async () => {
        const current = await this.users.findByIdForUpdate(user.id);
        const failures = (current?.failedLoginCount ?? 0) + 1;
        const lockSeconds =
          failures >= FAILURES_BEFORE_LOCK
            ? Math.min(BASE_LOCK_SECONDS * 2 ** (failures - FAILURES_BEFORE_LOCK), MAX_LOCK_SECONDS)
            : 0;
        await this.users.update(user.id, {
          failedLoginCount: failures,
          lockedUntil: lockSeconds > 0 ? new Date(now.getTime() + lockSeconds * 1000) : null,
        });
        await failed('bad_credentials', user.id);
        // A concurrent failure may have locked it already: only the change from unlocked counts.
        return lockSeconds > 0 && !(current?.lockedUntil != null && current.lockedUntil > now);
      });
      if (becameLocked) this.metrics.observeAuthLockout();
      this.metrics.observeAuthFailure('bad_credentials');
      throw BAD_CREDENTIALS();
    }
    return user;
  }

  /** A sign-in on the OAuth page: the failure count resets and `auth.login` is recorded (no API session). */
  async recordPageSignIn(user: UserRow, clientId: string): Promise<void> {
    await this.txHost.withTransaction(async () => {
      await this.users.update(user.id, { failedLoginCount: 0, lockedUntil: null, lastLoginAt: new Date() });
      await this.audit.record({
        action: 'auth.login',
        outcome: 'success',
        resourceType: 'user',
        resourceId: user.id,
        httpStatus: 200,
        details: { via: 'oauth', clientId: clientId.slice(0, 300) },
        actor: { type: 'user', id: user.id, label: user.email },
      });
    });
  }

  async login(email: string, password: string): Promise<TokenPair> {
    const user = await this.verifyCredentials(email, password);
    const now = new Date();
    return this.txHost.withTransaction(async () => {
      await this.users.update(user.id, { failedLoginCount: 0, lockedUntil: null, lastLoginAt: now });
      const client = this.context.client;
      const session = await this.sessions.create(
        user.id,
        this.tokens.refreshExpiry(),
        client?.ip,
        client?.userAgent,
      );
      const pair = await this.tokens.issue(user.id, session.id);
      await this.audit.record({
        action: 'auth.login',
        outcome: 'success',
        resourceType: 'session',
        resourceId: session.id,
        httpStatus: 200,
        actor: { type: 'user', id: user.id, label: user.email },
      });
      return pair;
    });
  }

  /** Rotates the refresh token. A token used twice means it leaked: the whole session is revoked. */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const outcome = await this.txHost.withTransaction(async () => {
      // An OAuth grant's refresh tokens belong to its client and the OAuth token endpoint.
      const rotation = await this.rotation.rotate(refreshToken, (session) => session.oauthClientId === null);
      if (rotation.kind === 'invalid') return { error: 'unknown' as const };
      const { session, user } = rotation;
      const actor = { type: 'user' as const, id: session.userId, label: user?.email };
      if (rotation.kind === 'reused') {
        await this.audit.record({
          action: 'auth.refresh_reuse',
          outcome: 'denied',
          resourceType: 'session',
          resourceId: session.id,
          httpStatus: 401,
          actor,
        });
        return { error: 'reused' as const };
      }
      const pair = await this.tokens.issue(session.userId, session.id);
      await this.audit.record({
        action: 'auth.refresh',
        outcome: 'success',
        resourceType: 'session',
        resourceId: session.id,
        httpStatus: 200,
        actor,
      });
      return { pair };
    });
    if (outcome.pair !== undefined) return outcome.pair;
    if (outcome.error === 'reused') this.principals.invalidate();
    this.metrics.observeAuthFailure(
      outcome.error === 'reused' ? 'refresh_token_reused' : 'refresh_token_invalid',
    );
    throw new UnauthenticatedError(
      'REFRESH_TOKEN_INVALID',
      'The refresh token is invalid, expired or already used.',
    );
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.sessionId === undefined) {
      throw new BadRequestError(
        'NOT_A_SESSION',
        'Only a signed-in session can log out; API keys are revoked instead.',
      );
    }
    await this.txHost.withTransaction(async () => {
      await this.sessions.revoke([principal.sessionId ?? ''], 'logout');
      await this.audit.record({
        action: 'auth.logout',
        outcome: 'success',
        resourceType: 'session',
        resourceId: principal.sessionId,
        httpStatus: 204,
      });
    });
    this.principals.invalidate();
  }

  async me(principal: Principal): Promise<MeResponse> {
    const profile =
      principal.userId === undefined ? undefined : await this.principals.profileOf(principal.userId);
    if (profile === undefined)
      throw new UnauthenticatedError('UNAUTHENTICATED', 'Authentication is required.');
    return { ...profile, permissions: [...principal.permissions].sort() };
  }

  /** Needs the current password; ends every other session of the user. */
  async changePassword(principal: Principal, currentPassword: string, newPassword: string): Promise<void> {
    const user = await this.requireUser(principal.userId);
    if (!(await verifyPassword(user.passwordHash, currentPassword))) {
      throw new BadRequestError('CURRENT_PASSWORD_WRONG', 'The current password is wrong.', [
        { field: 'currentPassword', issue: 'does not match' },
      ]);
    }
    checkPasswordPolicy(newPassword, user.email, 'newPassword');
    if (await verifyPassword(user.passwordHash, newPassword)) {
      throw new BadRequestError('PASSWORD_UNCHANGED', 'Choose a password different from the current one.', [
        { field: 'newPassword', issue: 'same as the current password' },
      ]);
    }
    const passwordHash = await hashPassword(newPassword);
    await this.txHost.withTransaction(async () => {
      await this.users.update(user.id, { passwordHash, mustChangePassword: false });
      const revoked = await this.sessions.revokeAllOf(user.id, 'password_changed', principal.sessionId);
      await this.audit.record({
        action: 'user.password_change',
        outcome: 'success',
        resourceType: 'user',
        resourceId: user.id,
        httpStatus: 204,
        details: { revokedSessions: revoked.length },
      });
    });
    this.principals.invalidate();
  }

  async listSessions(principal: Principal): Promise<SessionResponse[]> {
    const rows = await this.sessions.listActive(principal.userId ?? '');
    return rows.map((row) => toSessionResponse(row, principal.sessionId));
  }

  /** Another user's session answers 404, as if it did not exist. */
  async revokeSession(principal: Principal, sessionId: string): Promise<void> {
    await this.txHost.withTransaction(async () => {
      const session = await this.sessions.find(sessionId);
      if (session === undefined || session.userId !== principal.userId) {
        throw new NotFoundError('SESSION_NOT_FOUND', 'No such session.');
      }
      await this.sessions.revoke([sessionId], 'revoked_by_user');
      await this.audit.record({
        action: 'session.revoke',
        outcome: 'success',
        resourceType: 'session',
        resourceId: sessionId,
        httpStatus: 204,
      });
    });
    this.principals.invalidate();
  }

  private async requireUser(userId: string | undefined): Promise<UserRow> {
    const user = userId === undefined ? undefined : await this.users.findById(userId);
    if (user === undefined) throw new UnauthenticatedError('UNAUTHENTICATED', 'Authentication is required.');
    return user;
  }
}

function toSessionResponse(row: SessionRow, currentSessionId: string | undefined): SessionResponse {
  return {
    id: row.id,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    ip: row.ip,
    userAgent: row.userAgent,
    current: row.id === currentSessionId,
    oauthClientId: row.oauthClientId,
    scopes: row.scopes,
  };
}

function lockedError(until: Date): TooManyRequestsError {
  const seconds = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 1000));
  return new TooManyRequestsError('LOGIN_LOCKED', 'Too many failed sign-ins; try again later.', undefined, {
    'retry-after': String(seconds),
  });
}
