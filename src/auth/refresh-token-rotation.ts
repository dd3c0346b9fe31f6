import { Injectable } from '@nestjs/common';
import { sha256 } from './secrets';
import { type SessionRow, SessionsRepository } from './sessions.repository';
import { type UserRow, UsersRepository } from './users.repository';

export type Rotation =
  | { readonly kind: 'rotated'; readonly session: SessionRow; readonly user: UserRow }
  | { readonly kind: 'reused'; readonly session: SessionRow; readonly user: UserRow | undefined }
  | { readonly kind: 'invalid' };

/**
 * One refresh-token rotation, in the caller's transaction, for the API's sessions and OAuth grants
 * alike: the token and its session are locked; a token that is unknown or does not `belong` where it
 * was presented is invalid; one already rotated was leaked, so its whole session is revoked
 * (`reused`); a session that ended or a user who may not sign in is invalid; otherwise the token is
 * marked rotated and the session touched. The caller issues the new tokens and records the event.
 */
@Injectable()
export class RefreshTokenRotation {
  constructor(
    private readonly sessions: SessionsRepository,
    private readonly users: UsersRepository,
  ) {}

  async rotate(refreshToken: string, belongs: (session: SessionRow) => boolean): Promise<Rotation> {
    const hash = sha256(refreshToken);
    const found = await this.sessions.findRefreshTokenForUpdate(hash);
    if (found === undefined || !belongs(found.session)) return { kind: 'invalid' };
    const { session } = found;
    const user = await this.users.findById(session.userId);
    if (found.rotatedAt !== null) {
      await this.sessions.revoke([session.id], 'refresh_token_reuse');
      return { kind: 'reused', session, user };
    }
    if (session.revokedAt !== null || session.expiresAt <= new Date() || user?.status !== 'active')
      return { kind: 'invalid' };
    await this.sessions.markRotated(hash);
    await this.sessions.touch(session.id);
    return { kind: 'rotated', session, user };
  }
}
