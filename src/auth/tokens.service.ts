import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { randomToken, sha256 } from './secrets';
import { SessionsRepository } from './sessions.repository';

export interface TokenPair {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  tokenType: 'Bearer';
}

/** Issues access tokens (JWT, signed with the pinned algorithm) and rotating refresh tokens for a session. */
@Injectable()
export class TokensService {
  constructor(
    private readonly jwt: JwtService,
    private readonly sessions: SessionsRepository,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async issue(userId: string, sessionId: string): Promise<TokenPair> {
    const refreshToken = randomToken();
    await this.sessions.addRefreshToken(sessionId, sha256(refreshToken));
    const accessToken = await this.jwt.signAsync(
      { sid: sessionId },
      { subject: userId, jwtid: randomUUID(), expiresIn: this.config.jwt.accessTtlSeconds },
    );
    return { accessToken, expiresIn: this.config.jwt.accessTtlSeconds, refreshToken, tokenType: 'Bearer' };
  }

  refreshExpiry(): Date {
    return new Date(Date.now() + this.config.jwt.refreshTtlSeconds * 1000);
  }
}
