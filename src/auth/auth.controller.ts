import { Body, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { Throttle } from '@nestjs/throttler';
import { AuditedManually } from '../audit/audited.decorator';
import { AllowDuringPasswordChange, Authenticated, Public } from '../authz/route-access.decorators';
import { ApiController } from '../common/api-controller.decorator';
import type { Principal } from '../common/request-context';
import { AuthService, type MeResponse, type SessionResponse } from './auth.service';
import { CurrentPrincipal } from './current-principal.decorator';
import { ChangePasswordDto, LoginDto, LogoutDto, RefreshDto, TokenPairDto } from './dto/auth.dto';
import type { TokenPair } from './tokens.service';

/** Sign-in attempts per client IP per minute, on top of the per-account lock. */
const SIGN_IN_LIMIT = { default: { limit: 30, ttl: 60_000 } };

@ApiController('auth')
@ApiBearerAuth()
@AuditedManually()
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('login')
  @Public()
  @Throttle(SIGN_IN_LIMIT)
  @HttpCode(200)
  @ApiOperation({ summary: 'Sign in with email and password' })
  @ApiOkResponse({ type: TokenPairDto })
  login(@Body() body: LoginDto): Promise<TokenPair> {
    return this.auth.login(body.email, body.password);
  }

  @Post('refresh')
  @Public()
  @Throttle(SIGN_IN_LIMIT)
  @HttpCode(200)
  @ApiOperation({ summary: 'Exchange a refresh token for new tokens (the old refresh token stops working)' })
  @ApiOkResponse({ type: TokenPairDto })
  refresh(@Body() body: RefreshDto): Promise<TokenPair> {
    return this.auth.refresh(body.refreshToken);
  }

  @Post('logout')
  @Authenticated()
  @AllowDuringPasswordChange()
  @HttpCode(204)
  @ApiOperation({ summary: 'End the current session; its access and refresh tokens stop working' })
  async logout(@CurrentPrincipal() principal: Principal, @Body() _body: LogoutDto): Promise<void> {
    await this.auth.logout(principal);
  }

  @Get('me')
  @Authenticated()
  @AllowDuringPasswordChange()
  @ApiOperation({ summary: 'The signed-in user, their roles and effective permissions' })
  me(@CurrentPrincipal() principal: Principal): Promise<MeResponse> {
    return this.auth.me(principal);
  }

  @Post('me/password')
  @Authenticated()
  @AllowDuringPasswordChange()
  @HttpCode(204)
  @ApiOperation({ summary: 'Change your password (ends your other sessions)' })
  async changePassword(
    @CurrentPrincipal() principal: Principal,
    @Body() body: ChangePasswordDto,
  ): Promise<void> {
    await this.auth.changePassword(principal, body.currentPassword, body.newPassword);
  }

  @Get('sessions')
  @Authenticated()
  @ApiOperation({ summary: 'Your active sessions' })
  sessions(@CurrentPrincipal() principal: Principal): Promise<SessionResponse[]> {
    return this.auth.listSessions(principal);
  }

  @Delete('sessions/:id')
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: 'End one of your sessions' })
  async revokeSession(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
  ): Promise<void> {
    await this.auth.revokeSession(principal, id);
  }
}
