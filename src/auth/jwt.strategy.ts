import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { UnauthenticatedError } from '../common/app-error';
import type { Principal } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { JWT_KEYS, type JwtKeys } from './jwt-keys';
import { PrincipalsService } from './principals.service';

interface AccessTokenPayload {
  sub?: unknown;
  sid?: unknown;
  jti?: unknown;
}

/**
 * Verifies access tokens: signature with the one pinned algorithm (so `alg: none` and algorithm
 * swaps fail), issuer, audience, `exp` and `nbf`; then the login session must still stand.
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
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      ignoreExpiration: false,
    });
  }

  async validate(payload: AccessTokenPayload): Promise<Principal> {
    const { sub, sid, jti } = payload;
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') {
      throw new UnauthenticatedError('TOKEN_INVALID', 'The access token is invalid.');
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
