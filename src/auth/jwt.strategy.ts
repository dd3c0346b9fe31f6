import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { UnauthenticatedError } from '../common/app-error';
import { isMcpPath } from '../common/json-rpc-error';
import { mcpResourceUrl } from '../common/mcp-resource';
import type { Principal } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { JWT_KEYS, type JwtKeys } from './jwt-keys';
import { PrincipalsService } from './principals.service';

interface AccessTokenPayload {
  sub?: unknown;
  sid?: unknown;
  jti?: unknown;
  iss?: unknown;
  aud?: unknown;
}

/**
 * Verifies access tokens: signature with the one pinned algorithm (so `alg: none` and algorithm
 * swaps fail), issuer, audience, `exp` and `nbf`; then the login session (or OAuth grant) must still
 * stand. Two kinds are accepted: our API tokens (JWT_ISSUER, JWT_AUDIENCE) everywhere, and OAuth
 * access tokens (issuer PUBLIC_BASE_URL, audience the MCP resource) on the MCP routes only, unless
 * OAUTH_TOKENS_FOR_REST. Any other audience is refused.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @Inject(JWT_KEYS) keys: JwtKeys,
    @InjectConfig() config: AppConfig,
    private readonly principals: PrincipalsService,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // A KeyObject made once: given a string, jsonwebtoken would build one (trying a public key
      // first, then a secret) on every verification.
      secretOrKey: verificationKey(keys) as unknown as string,
      algorithms: [keys.algorithm],
      issuer: [config.jwt.issuer, config.http.publicBaseUrl],
      audience: [config.jwt.audience, mcpResourceUrl(config.http.publicBaseUrl)],
      ignoreExpiration: false,
      passReqToCallback: true,
    });
    this.api = { issuer: config.jwt.issuer, audience: config.jwt.audience };
    this.oauth = { issuer: config.http.publicBaseUrl, audience: mcpResourceUrl(config.http.publicBaseUrl) };
    this.oauthForRest = config.oauth.tokensForRest;
  }

  private readonly api: { issuer: string; audience: string };
  private readonly oauth: { issuer: string; audience: string };
  private readonly oauthForRest: boolean;

  async validate(request: { url: string }, payload: AccessTokenPayload): Promise<Principal> {
    const { sub, sid, jti, iss, aud } = payload;
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') {
      throw new UnauthenticatedError('TOKEN_INVALID', 'The access token is invalid.');
    }
    const isApi = iss === this.api.issuer && aud === this.api.audience;
    const isOAuth = iss === this.oauth.issuer && aud === this.oauth.audience;
    if (!isApi && !isOAuth) throw new UnauthenticatedError('TOKEN_INVALID', 'The access token is invalid.');
    if (isOAuth && !this.oauthForRest && !isMcpPath(request.url)) {
      throw new UnauthenticatedError(
        'TOKEN_AUDIENCE_MISMATCH',
        'This access token is for the MCP endpoint only; sign in to the API for a token of its own.',
      );
    }
    const principal = await this.principals.forSession(sub, sid);
    if (principal === undefined)
      throw new UnauthenticatedError('SESSION_REVOKED', 'The session has ended; sign in again.');
    return principal;
  }
}

function verificationKey(keys: JwtKeys): KeyObject {
  return keys.algorithm === 'HS256'
    ? createSecretKey(Buffer.from(keys.verifyKey, 'utf8'))
    : createPublicKey(keys.verifyKey);
}
