import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { AuthorizationGuard } from '../authz/authorization.guard';
import { RolesController } from '../authz/roles.controller';
import { RolesRepository } from '../authz/roles.repository';
import { RolesService } from '../authz/roles.service';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { AdminBootstrapService } from './admin-bootstrap.service';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeysRepository } from './api-keys.repository';
import { ApiKeysService } from './api-keys.service';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { AuthenticationGuard } from './authentication.guard';
import { JWT_KEYS, type JwtKeys } from './jwt-keys';
import { JwtKeysModule } from './jwt-keys.module';
import { JwtStrategy } from './jwt.strategy';
import { PrincipalsService } from './principals.service';
import { RefreshTokenRotation } from './refresh-token-rotation';
import { SessionsRepository } from './sessions.repository';
import { TokensService } from './tokens.service';
import { UsersController } from './users.controller';
import { UsersRepository } from './users.repository';
import { UsersService } from './users.service';

/**
 * Users, sessions, API keys, roles and the two global guards (identification, then authorization).
 * Roles live in authz/ but belong to this module: users, roles and principals depend on each other.
 */
@Module({
  imports: [
    PassportModule,
    JwtKeysModule,
    JwtModule.registerAsync({
      imports: [JwtKeysModule],
      inject: [JWT_KEYS, APP_CONFIG],
      useFactory: (keys: JwtKeys, config: AppConfig) => ({
        secret: keys.algorithm === 'HS256' ? keys.signKey : undefined,
        privateKey: keys.algorithm === 'HS256' ? undefined : keys.signKey,
        publicKey: keys.algorithm === 'HS256' ? undefined : keys.verifyKey,
        signOptions: { algorithm: keys.algorithm, issuer: config.jwt.issuer, audience: config.jwt.audience },
        verifyOptions: {
          algorithms: [keys.algorithm],
          issuer: config.jwt.issuer,
          audience: config.jwt.audience,
        },
      }),
    }),
  ],
  controllers: [AuthController, UsersController, ApiKeysController, RolesController],
  providers: [
    UsersRepository,
    SessionsRepository,
    ApiKeysRepository,
    RolesRepository,
    PrincipalsService,
    TokensService,
    RefreshTokenRotation,
    JwtStrategy,
    AuthService,
    UsersService,
    ApiKeysService,
    RolesService,
    AdminBootstrapService,
    AuthenticationGuard,
    AuthorizationGuard,
  ],
  exports: [
    AuthenticationGuard,
    AuthorizationGuard,
    PrincipalsService,
    AuthService,
    RefreshTokenRotation,
    SessionsRepository,
    UsersRepository,
    JwtModule,
  ],
})
export class AuthModule {}
