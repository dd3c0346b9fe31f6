import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { RolesService } from '../authz/roles.service';
import { pendingMigrationNames } from '../database/migration-runner';
import { RequestContext } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { UsersService } from './users.service';
import { UsersRepository } from './users.repository';

export const SYSTEM_PRINCIPAL = {
  kind: 'system',
  id: 'bootstrap',
  label: 'bootstrap',
  permissions: new Set<string>(),
} as const;

/**
 * At boot: bring the built-in roles in line with the registry, and on a database without users
 * create the first administrator (from ADMIN_EMAIL / ADMIN_PASSWORD, or, outside production, with a
 * generated password written to a file only the owner can read; it must be changed at first login).
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Bootstrap');

  constructor(
    private readonly roles: RolesService,
    private readonly users: UsersService,
    private readonly usersRepository: UsersRepository,
    private readonly context: RequestContext,
    private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): Promise<void> {
    return this.context.run(() => this.bootstrap(), { principal: SYSTEM_PRINCIPAL });
  }

  private async bootstrap(): Promise<void> {
    const pending = await pendingMigrationNames(this.dataSource);
    if (pending.length > 0) {
      // DB_MIGRATIONS_RUN=false and nobody has migrated yet: readiness reports it; retry on restart.
      this.logger.warn(
        `Migrations pending (${pending.join(', ')}): roles and the first administrator are set up after they run and the service restarts`,
      );
      return;
    }
    await this.roles.syncBuiltIns();
    if ((await this.usersRepository.count()) > 0) return;
    const { email, password } = this.config.admin;
    if (email !== undefined && password !== undefined) {
      await this.createAdmin(email, password, false);
      this.logger.log(`Created the first administrator ${email}`);
      return;
    }
    if (this.config.isProduction) {
      throw new Error('No users exist: set ADMIN_EMAIL and ADMIN_PASSWORD to create the first administrator');
    }
    const generated = randomBytes(18).toString('base64url');
    const adminEmail = email ?? 'admin@localhost';
    const file = join(dirname(resolve(this.config.database.pgliteDataDir)), 'initial-admin-password');
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${adminEmail}\n${generated}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    await this.createAdmin(adminEmail, generated, true);
    this.logger.warn(
      `Created the first administrator ${adminEmail}; the password is in ${file} and must be changed at first login`,
    );
  }

  private async createAdmin(email: string, password: string, mustChangePassword: boolean): Promise<void> {
    try {
      await this.users.create({
        email,
        password,
        displayName: 'Administrator',
        roles: ['admin'],
        mustChangePassword,
      });
    } catch (error) {
      // Another replica created it at the same moment.
      if ((await this.usersRepository.count()) === 0) throw error;
    }
  }
}
