import { Inject, Injectable } from '@nestjs/common';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { JWT_KEYS, type JwtKeys } from '../auth/jwt-keys';

/**
 * Small signed, expiring values carried by the sign-in and consent forms (the authorization request,
 * and proof of who signed in), so that no server-side page state is needed and any replica can take
 * the next step. HMAC-SHA256 under a key derived from the token signing key.
 */
@Injectable()
export class SignedState {
  private readonly key: Buffer;

  constructor(@Inject(JWT_KEYS) keys: JwtKeys) {
    this.key = createHash('sha256').update('mcp-admin oauth form state\0').update(keys.signKey).digest();
  }

  sign(purpose: string, value: unknown, ttlSeconds: number): string {
    const body = Buffer.from(
      JSON.stringify({ p: purpose, v: value, exp: Math.floor(Date.now() / 1000) + ttlSeconds }),
    ).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  /** The value, or undefined when the signature, purpose or expiry does not hold. */
  verify<T>(purpose: string, token: string | undefined): T | undefined {
    if (token === undefined || token.length > 16_384) return undefined;
    const [body, mac, extra] = token.split('.');
    if (body === undefined || mac === undefined || extra !== undefined) return undefined;
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    try {
      const decoded = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as {
        p: string;
        v: T;
        exp: number;
      };
      if (decoded.p !== purpose || decoded.exp < Date.now() / 1000) return undefined;
      return decoded.v;
    } catch {
      return undefined;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
