import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { createHash, randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import { AuthService } from '../auth/auth.service';
import { PrincipalsService } from '../auth/principals.service';
import { RefreshTokenRotation } from '../auth/refresh-token-rotation';
import { randomToken, sha256 } from '../auth/secrets';
import { SessionsRepository } from '../auth/sessions.repository';
import { UsersRepository, type UserRow } from '../auth/users.repository';
import { ForbiddenError } from '../common/app-error';
import { mcpResourceUrl } from '../common/mcp-resource';
import { RequestContext } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { type OAuthClient, OAuthClientsService } from './oauth-clients.service';
import { OAuthCodesRepository } from './oauth-codes.repository';
import { OAuthError } from './oauth-error';
import { MCP_TOOLS_SCOPE, parseScopes } from './oauth-scopes';
import { redirectUriMatches } from './redirect-uris';

/** Authorization codes live this long (RFC 6749 recommends at most 10 minutes; 60 s is plenty). */
const CODE_TTL_SECONDS = 60;
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** A validated authorization request, carried signed through the sign-in and consent pages. */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  state?: string;
  codeChallenge: string;
  scopes: string[];
  resource: string;
}

/** A request that cannot be sent back to the client (unknown client, unregistered redirect URI): shown as a page. */
export class UnredirectableError extends Error {}

/** A refusal that goes back to the client's redirect URI as `error` (+ `state`). */
export class RedirectError extends Error {
  constructor(readonly location: string) {
    super('redirect');
  }
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/**
 * The OAuth 2.1 authorization server for MCP clients: authorization code with PKCE S256 only, the
 * MCP endpoint as the one resource (RFC 8707), codes single-use for 60 s and bound to client,
 * redirect URI and verifier; a grant is a session with the client and its scopes, whose refresh
 * tokens rotate (a reused one revokes the grant) and whose access tokens are short-lived JWTs for
 * the MCP resource.
 */
@Injectable()
export class OAuthService {
  readonly issuer: string;
  readonly resource: string;

  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly clients: OAuthClientsService,
    private readonly codes: OAuthCodesRepository,
    private readonly sessions: SessionsRepository,
    private readonly users: UsersRepository,
    private readonly auth: AuthService,
    private readonly rotation: RefreshTokenRotation,
    private readonly principals: PrincipalsService,
    private readonly jwt: JwtService,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    this.issuer = config.http.publicBaseUrl;
    this.resource = mcpResourceUrl(config.http.publicBaseUrl);
  }

  /**
   * Validates `GET /oauth/authorize`. The client and redirect URI are checked first: until they
   * hold, nothing may be sent to the redirect URI (UnredirectableError). Every later problem goes
   * back to the client (RedirectError) with its `state`.
   */
  async authorizationRequest(
    query: Record<string, string | undefined>,
  ): Promise<{ client: OAuthClient; request: AuthorizationRequest }> {
    let client: OAuthClient;
    try {
      client = await this.clients.resolve(query.client_id);
    } catch (error) {
      throw new UnredirectableError(error instanceof OAuthError ? error.message : 'The client is unknown.');
    }
    const redirectUri = query.redirect_uri;
    if (redirectUri === undefined || !redirectUriMatches(client.redirectUris, redirectUri)) {
      throw new UnredirectableError('The redirect URI is not one this client registered.');
    }
    const state = query.state;
    const fail = (error: string, description: string): never => {
      throw new RedirectError(
        this.redirect(redirectUri, { error, error_description: description, state, iss: this.issuer }),
      );
    };
    if (state !== undefined && state.length > 1024) fail('invalid_request', 'state is too long.');
    if (query.response_type !== 'code')
      fail('unsupported_response_type', 'Only response_type=code is supported.');
    if (query.code_challenge === undefined || query.code_challenge_method !== 'S256')
      fail('invalid_request', 'PKCE is required: code_challenge with code_challenge_method=S256.');
    if (!CHALLENGE.test(query.code_challenge ?? '')) fail('invalid_request', 'code_challenge is malformed.');
    if (query.resource === undefined) fail('invalid_target', `resource is required: ${this.resource}.`);
    if (query.resource !== this.resource)
      fail('invalid_target', `The only resource here is ${this.resource}.`);
    const scopes = parseScopes(query.scope);
    if (scopes === undefined) fail('invalid_scope', 'The scope names an unknown scope.');
    return {
      client,
      request: {
        clientId: client.clientId,
        redirectUri,
        ...(state === undefined ? {} : { state }),
        codeChallenge: query.code_challenge ?? '',
        scopes: scopes ?? [],
        resource: this.resource,
      },
    };
  }

  /**
   * The sign-in of the OAuth page: the API's lockout rules and events, for users who may work now.
   * Answers the user and the scopes they can grant: of the permission scopes asked for, those they
   * hold (`mcp:tools` always), so that neither the consent page nor the token claims more.
   */
  async signIn(
    email: string,
    password: string,
    request: AuthorizationRequest,
  ): Promise<{ user: UserRow; scopes: string[] }> {
    const user = await this.auth.verifyCredentials(email, password);
    if (user.mustChangePassword) {
      throw new ForbiddenError(
        'PASSWORD_CHANGE_REQUIRED',
        'Change your password in MCP Admin before authorizing applications.',
      );
    }
    const held = new Set(await this.users.permissionsOf(user.id));
    const scopes = request.scopes.filter((scope) => scope === MCP_TOOLS_SCOPE || held.has(scope));
    if (scopes.length === 0) {
      throw new ForbiddenError(
        'NO_GRANTABLE_SCOPE',
        'Your account holds none of the permissions this application asks for.',
      );
    }
    await this.auth.recordPageSignIn(user, request.clientId);
    return { user, scopes };
  }

  /** The user approved `scopes` (what they can grant of the request): a code for the client, at its redirect URI. */
  async approve(userId: string, request: AuthorizationRequest, scopes: string[]): Promise<string> {
    const code = randomToken();
    await this.txHost.withTransaction(async () => {
      await this.codes.prune();
      await this.codes.insert(sha256(code), {
        clientId: request.clientId,
        userId,
        redirectUri: request.redirectUri,
        codeChallenge: request.codeChallenge,
        scopes,
        resource: request.resource,
        expiresAt: new Date(Date.now() + CODE_TTL_SECONDS * 1000),
      });
      await this.audit.record({
        action: 'oauth.authorize',
        outcome: 'success',
        resourceType: 'oauth_client',
        resourceId: request.clientId,
        httpStatus: 302,
        details: { clientId: request.clientId, scopes },
        actor: await this.actor(userId),
      });
    });
    return this.redirect(request.redirectUri, { code, state: request.state, iss: this.issuer });
  }

  /** The user declined: `access_denied` back to the client, with its state. */
  async deny(userId: string, request: AuthorizationRequest): Promise<string> {
    await this.audit.recordIndependently({
      action: 'oauth.authorize',
      outcome: 'denied',
      resourceType: 'oauth_client',
      resourceId: request.clientId,
      httpStatus: 302,
      details: { clientId: request.clientId, scopes: request.scopes },
      actor: await this.actor(userId),
    });
    return this.redirect(request.redirectUri, {
      error: 'access_denied',
      error_description: 'The user declined.',
      state: request.state,
      iss: this.issuer,
    });
  }

  /** `POST /oauth/token`. */
  async token(params: Record<string, string | undefined>): Promise<TokenResponse> {
    switch (params.grant_type) {
      case 'authorization_code':
        return this.recorded('authorization_code', params.client_id, () => this.exchangeCode(params));
      case 'refresh_token':
        return this.recorded('refresh_token', params.client_id, () => this.refresh(params));
      case undefined:
        throw new OAuthError('invalid_request', 'grant_type is required.');
      default:
        throw new OAuthError('unsupported_grant_type', 'Supported: authorization_code, refresh_token.');
    }
  }

  /** `POST /oauth/revoke` (RFC 7009): a refresh or access token of the client ends its grant. Always 200. */
  async revoke(params: Record<string, string | undefined>): Promise<void> {
    const token = params.token;
    if (token === undefined || token === '') throw new OAuthError('invalid_request', 'token is required.');
    const client = await this.clients.resolve(params.client_id);
    const sessionId = (await this.sessionOfRefreshToken(token)) ?? (await this.sessionOfAccessToken(token));
    if (sessionId === undefined) return;
    await this.txHost.withTransaction(async () => {
      const session = await this.sessions.find(sessionId);
      if (session === undefined || session.oauthClientId !== client.clientId) return;
      const revoked = await this.sessions.revoke([sessionId], 'oauth_revoked');
      if (revoked.length === 0) return;
      await this.audit.record({
        action: 'oauth.revoke',
        outcome: 'success',
        resourceType: 'session',
        resourceId: sessionId,
        httpStatus: 200,
        details: { clientId: client.clientId },
        actor: await this.actor(session.userId),
      });
    });
    this.principals.invalidate();
  }

  private async exchangeCode(params: Record<string, string | undefined>): Promise<TokenResponse> {
    const { code, redirect_uri: redirectUri, code_verifier: verifier, client_id: clientId } = params;
    if (code === undefined || redirectUri === undefined || clientId === undefined)
      throw new OAuthError('invalid_request', 'code, redirect_uri and client_id are required.');
    if (verifier === undefined || !VERIFIER.test(verifier))
      throw new OAuthError('invalid_request', 'code_verifier is required (43-128 unreserved characters).');
    if (params.resource !== undefined && params.resource !== this.resource)
      throw new OAuthError('invalid_target', `The only resource here is ${this.resource}.`);
    // A revoked client's codes are worth nothing (checked before the transaction: it may fetch a document).
    await this.clients.resolve(clientId);
    const outcome = await this.txHost.withTransaction(async () => {
      const hash = sha256(code);
      const row = await this.codes.findForUpdate(hash);
      if (row === undefined) return { error: 'The code is unknown.' };
      if (row.usedAt !== null) {
        // A code presented twice was intercepted: the grant it produced ends too (RFC 6749 4.1.2).
        if (row.sessionId !== null) await this.sessions.revoke([row.sessionId], 'oauth_code_reuse');
        return { error: 'The code has already been used.', revoked: true };
      }
      if (row.expiresAt <= new Date()) return { error: 'The code has expired.' };
      if (row.clientId !== clientId) return { error: 'The code was issued to another client.' };
      if (row.redirectUri !== redirectUri)
        return { error: 'redirect_uri differs from the authorization request.' };
      if (pkceChallenge(verifier) !== row.codeChallenge)
        return { error: 'The code_verifier does not match.' };
      const user = await this.users.findById(row.userId);
      if (user === undefined || user.status !== 'active') return { error: 'The user can no longer sign in.' };
      const session = await this.sessions.create(
        row.userId,
        new Date(Date.now() + this.config.jwt.refreshTtlSeconds * 1000),
        this.context.client?.ip,
        this.context.client?.userAgent,
        { clientId, scopes: row.scopes },
      );
      await this.codes.markUsed(hash, session.id);
      this.context.addAuditDetails({ userId: row.userId, grant: session.id });
      return { tokens: await this.issue(row.userId, session.id, row.scopes) };
    });
    if ('tokens' in outcome && outcome.tokens !== undefined) return outcome.tokens;
    if (outcome.revoked) this.principals.invalidate();
    throw new OAuthError('invalid_grant', outcome.error ?? 'The code is invalid.');
  }

  private async refresh(params: Record<string, string | undefined>): Promise<TokenResponse> {
    const { refresh_token: refreshToken, client_id: clientId } = params;
    if (refreshToken === undefined || clientId === undefined)
      throw new OAuthError('invalid_request', 'refresh_token and client_id are required.');
    if (params.resource !== undefined && params.resource !== this.resource)
      throw new OAuthError('invalid_target', `The only resource here is ${this.resource}.`);
    const outcome = await this.txHost.withTransaction(async () => {
      const rotation = await this.rotation.rotate(
        refreshToken,
        (session) => session.oauthClientId === clientId,
      );
      if (rotation.kind === 'invalid') return { error: 'invalid' as const };
      const { session } = rotation;
      if (rotation.kind === 'reused') {
        // A rotated token used again leaked: the grant ends for everyone holding it.
        this.context.addAuditDetails({ reason: 'refresh_token_reuse', grant: session.id });
        return { error: 'reused' as const };
      }
      this.context.addAuditDetails({ userId: session.userId, grant: session.id });
      return { tokens: await this.issue(session.userId, session.id, session.scopes ?? []) };
    });
    if (outcome.tokens !== undefined) return outcome.tokens;
    if (outcome.error === 'reused') {
      this.principals.invalidate();
      throw new OAuthError(
        'invalid_grant',
        'The refresh token was already used; the grant has been revoked.',
      );
    }
    throw new OAuthError('invalid_grant', 'The refresh token is invalid, expired or revoked.');
  }

  private async issue(userId: string, sessionId: string, scopes: string[]): Promise<TokenResponse> {
    const refreshToken = randomToken();
    await this.sessions.addRefreshToken(sessionId, sha256(refreshToken));
    const ttl = this.config.oauth.accessTtlSeconds;
    const accessToken = await this.jwt.signAsync(
      { sid: sessionId, scope: scopes.join(' ') },
      { subject: userId, jwtid: randomUUID(), expiresIn: ttl, issuer: this.issuer, audience: this.resource },
    );
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: ttl,
      refresh_token: refreshToken,
      scope: scopes.join(' '),
    };
  }

  /**
   * One `oauth.token` event per token request: success with the grant, else failure (or denied for
   * a reused refresh token, which revokes the grant) with the OAuth error.
   */
  private async recorded(
    grantType: string,
    clientId: string | undefined,
    work: () => Promise<TokenResponse>,
  ): Promise<TokenResponse> {
    this.context.beginAuditDetails();
    const event = {
      action: 'oauth.token',
      resourceType: 'oauth_client',
      resourceId: clientId?.slice(0, 300),
    };
    try {
      const tokens = await work();
      await this.audit.recordIndependently({
        ...event,
        outcome: 'success',
        httpStatus: 200,
        details: { grantType, ...this.context.auditDetails },
      });
      return tokens;
    } catch (error) {
      const reused = this.context.auditDetails?.reason === 'refresh_token_reuse';
      await this.audit.recordIndependently({
        ...event,
        outcome: reused ? 'denied' : 'failure',
        httpStatus: error instanceof OAuthError ? error.status : 500,
        details: {
          grantType,
          error: error instanceof OAuthError ? error.oauthError : 'server_error',
          ...this.context.auditDetails,
        },
      });
      throw error;
    }
  }

  private async sessionOfRefreshToken(token: string): Promise<string | undefined> {
    const found = await this.txHost.withTransaction(() =>
      this.sessions.findRefreshTokenForUpdate(sha256(token)),
    );
    return found?.sessionId;
  }

  private async sessionOfAccessToken(token: string): Promise<string | undefined> {
    try {
      // Revocation also accepts an expired access token: it still names its grant.
      const payload = await this.jwt.verifyAsync<{ sid?: unknown }>(token, {
        issuer: this.issuer,
        audience: this.resource,
        ignoreExpiration: true,
      });
      return typeof payload.sid === 'string' ? payload.sid : undefined;
    } catch {
      return undefined;
    }
  }

  private async actor(userId: string) {
    const user = await this.users.findById(userId);
    return { type: 'user' as const, id: userId, label: user?.email };
  }

  private redirect(uri: string, params: Record<string, string | undefined>): string {
    const url = new URL(uri);
    for (const [name, value] of Object.entries(params))
      if (value !== undefined) url.searchParams.set(name, value);
    return url.toString();
  }
}

/** PKCE S256: base64url(SHA-256(verifier)). */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}
