import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { AUDIT_OPTIONS, type AuditOptions } from './audit.options';
import { AuditRepository } from './audit.repository';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Removes audit events older than AUDIT_RETENTION_DAYS, once a day, through the database function
 * audit_prune (the only way rows can be deleted). It prunes a prefix of the chain and moves the
 * anchor, so verification still passes afterwards. Every replica runs it; audit_prune serialises
 * them (and the sealer) with an advisory lock, and a second run finds nothing to do.
 */
@Injectable()
export class AuditRetention implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuditRetention.name);
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly repository: AuditRepository,
    @InjectConfig() private readonly config: AppConfig,
    @Inject(AUDIT_OPTIONS) private readonly options: AuditOptions,
  ) {}

  /** Days to keep, or undefined: keep everything. */
  get retentionDays(): number | undefined {
    return this.config.retention.auditDays;
  }

  onApplicationBootstrap(): void {
    if (this.retentionDays === undefined || this.options.retentionFirstRunDelayMs <= 0) return;
    this.arm(this.options.retentionFirstRunDelayMs);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running.catch(() => undefined);
  }

  /** Prunes by the configured retention; answers how many rows were removed (0 when none is set). */
  async pruneExpired(): Promise<number> {
    const days = this.retentionDays;
    if (days === undefined) return 0;
    const pruned = await this.repository.pruneOlderThanDays(days);
    if (pruned > 0) this.logger.log(`Pruned ${pruned} audit events older than ${days} days`);
    return pruned;
  }

  /** Removes sealed events that occurred before `cutoff` (a prefix of the chain); answers how many. */
  async pruneOlderThan(cutoff: Date): Promise<number> {
    const pruned = await this.repository.prune(cutoff);
    if (pruned > 0) this.logger.log(`Pruned ${pruned} audit events older than ${cutoff.toISOString()}`);
    return pruned;
  }

  private arm(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const run = this.pruneExpired().catch((error: unknown) =>
        // Tomorrow's run tries again; nothing is lost by pruning a day late.
        this.logger.error(
          `Audit retention failed: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
      this.running = run;
      void run.finally(() => this.arm(DAY_MS));
    }, delayMs);
    this.timer.unref();
  }
}
