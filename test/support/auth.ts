import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { AuthService } from '../../src/auth/auth.service';
import type { TokenPair } from '../../src/auth/tokens.service';
import { UsersService, type UserResponse } from '../../src/auth/users.service';
import { RequestContext } from '../../src/common/request-context';

const SYSTEM = { kind: 'system', id: 'test', label: 'test setup', permissions: new Set<string>() } as const;

/** Creates a user directly through the service (test setup, not the behaviour under test). */
export async function createUser(
  app: INestApplication,
  roles: string[],
  overrides: { email?: string; password?: string } = {},
): Promise<UserResponse & { password: string }> {
  const password = overrides.password ?? `password-${Math.random().toString(36).slice(2)}-long`;
  const email =
    overrides.email ?? `${roles.join('-') || 'none'}-${Math.random().toString(36).slice(2, 10)}@example.com`;
  const user = await app
    .get(RequestContext)
    .run(() => app.get(UsersService).create({ email, password, displayName: email, roles }), {
      principal: SYSTEM,
    });
  return { ...user, password };
}

/** A fresh session without going through the HTTP sign-in limit. */
export function signIn(app: INestApplication, email: string, password: string): Promise<TokenPair> {
  return app.get(RequestContext).run(() => app.get(AuthService).login(email, password));
}

export async function loginOverHttp(
  app: INestApplication,
  email: string,
  password: string,
): Promise<TokenPair> {
  const res = await request(app.getHttpServer())
    .post('/api/v1/auth/login')
    .send({ email, password })
    .expect(200);
  return res.body as TokenPair;
}

export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}
