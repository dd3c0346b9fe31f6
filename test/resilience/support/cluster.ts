import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StubOllama } from '../../support/stub-ollama';
import { Balancer } from './balancer';
import { call, expectStatus } from './http';
import { freePort } from '../../support/ports';
import { waitFor } from './processes';
import { Replica } from './replica';
import { ThrowawayPostgres } from './throwaway-postgres';
import { ThrowawayRedis } from './throwaway-redis';

const ADMIN = { email: 'admin@resilience.test', password: `admin-${randomUUID()}` };

/** A product in the Shopify products.json shape the import takes. */
export function product(id: number): Record<string, unknown> {
  return {
    id,
    title: `Walnut Desk Lamp ${id}`,
    handle: `walnut-desk-lamp-${id}`,
    body_html: `<p>Lamp number ${id}, turned walnut and brass.</p>`,
    vendor: 'Lumen & Grain',
    product_type: 'Lighting/Desk Lamps',
    tags: ['Material: Walnut', 'Lighting'],
    variants: [{ id: id * 10 + 1, title: 'Default', price: '129.00', sku: `LAMP-${id}` }],
    options: [{ name: 'Title', position: 1, values: ['Default'] }],
  };
}

/**
 * What the resilience suite runs against: its own PostgreSQL and Redis, a stub Ollama, N replicas
 * of the compiled service on one database and one Redis, and a round-robin balancer in front.
 */
export class Cluster {
  /** The environment every replica runs with (secrets included: the suite's own throwaway ones). */
  env: Record<string, string> = {};
  adminToken = '';

  private constructor(
    readonly dir: string,
    readonly postgres: ThrowawayPostgres,
    readonly redis: ThrowawayRedis,
    readonly ollama: StubOllama,
    readonly balancer: Balancer,
    readonly replicas: Replica[],
  ) {}

  static async start(
    name: string,
    options: { replicas?: number; env?: Record<string, string> } = {},
  ): Promise<Cluster> {
    const dir = mkdtempSync(join(tmpdir(), `resilience-${name}-`));
    const postgres = await ThrowawayPostgres.start();
    const redis = await ThrowawayRedis.start();
    const ollama = await StubOllama.start({ models: ['stub-small:latest'] });
    const replicas: Replica[] = [];
    const balancer = new Balancer(() => replicas.filter((r) => r.running).map((r) => r.port));
    const cluster = new Cluster(dir, postgres, redis, ollama, balancer, replicas);
    await balancer.start();
    mkdirSync(join(dir, 'files'));
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DATABASE_URL: postgres.url,
      DB_POOL_SIZE: '10',
      REDIS_URL: redis.url,
      PUBLIC_BASE_URL: balancer.url,
      JWT_SECRET: randomBytes(48).toString('base64'),
      METRICS_TOKEN: randomBytes(24).toString('hex'),
      SECRETS_KEY: randomBytes(32).toString('base64'),
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      OLLAMA_URL: ollama.url,
      LLM_DEFAULT_MODEL: 'stub-small:latest',
      TOOLS_FS_ROOT: join(dir, 'files'),
      RATE_LIMIT_MAX: '1000000',
      // Items get 5 s; a crashed replica's items are taken over once their lease (35 s) runs out.
      PIPELINE_ITEM_TIMEOUT_MS: '5000',
      SHUTDOWN_GRACE_MS: '10000',
      ...options.env,
    };
    cluster.env = env;
    for (let index = 0; index < (options.replicas ?? 2); index++) {
      // One at a time: the first one runs the migrations.
      const replica = new Replica(`replica-${index + 1}`, await freePort(), env, dir);
      await replica.start();
      cluster.replicas.push(replica);
    }
    cluster.adminToken = await cluster.signIn(ADMIN.email, ADMIN.password);
    return cluster;
  }

  get urls(): string[] {
    return this.replicas.filter((r) => r.running).map((r) => r.baseUrl);
  }

  async signIn(email: string, password: string): Promise<string> {
    const { body } = await expectStatus<{ accessToken: string }>(
      200,
      this.urls[0],
      'POST',
      '/api/v1/auth/login',
      {
        body: { email, password },
      },
    );
    return body.accessToken;
  }

  /** A new user with these roles, signed in: its access token. */
  async userToken(roles: string[]): Promise<string> {
    const email = `${roles.join('-')}-${randomUUID().slice(0, 8)}@resilience.test`;
    const password = `password-${randomUUID()}`;
    await expectStatus(201, this.urls[0], 'POST', '/api/v1/users', {
      token: this.adminToken,
      body: { email, password, displayName: email, roles },
    });
    return this.signIn(email, password);
  }

  /** Imports products with ids [from, from + count) and waits for the import to finish. */
  async importProducts(from: number, count: number): Promise<number[]> {
    const ids = Array.from({ length: count }, (_, index) => from + index);
    const { body } = await expectStatus<{ id: string }>(
      202,
      this.urls[0],
      'POST',
      '/api/v1/catalog/imports',
      {
        token: this.adminToken,
        body: { products: ids.map(product) },
      },
    );
    await this.waitForImport(body.id, 120_000);
    return ids;
  }

  async waitForImport(id: string, timeoutMs: number): Promise<Record<string, unknown>> {
    let last: Record<string, unknown> = {};
    await waitFor(
      `import ${id} to finish`,
      async () => {
        const answer = await call(this.urls[0], 'GET', `/api/v1/catalog/imports/${id}`, {
          token: this.adminToken,
        });
        if (answer.status !== 200) return false;
        last = answer.body as Record<string, unknown>;
        return ['completed', 'completed_with_errors', 'failed'].includes(String(last.status));
      },
      timeoutMs,
    );
    return last;
  }

  /** Waits until the sealer has sealed every event, then verifies the whole hash chain. */
  async verifyAuditChain(): Promise<{ ok: boolean; checked: number; unsealed: number }> {
    let last = { ok: false, checked: 0, unsealed: -1 };
    await waitFor(
      'every audit event to be sealed',
      async () => {
        const answer = await call(this.urls[0], 'GET', '/api/v1/audit/verify', { token: this.adminToken });
        if (answer.status !== 200) return false;
        last = answer.body as typeof last;
        return last.unsealed === 0;
      },
      60_000,
    );
    return last;
  }

  async stop(): Promise<void> {
    for (const replica of this.replicas)
      if (replica.running) await replica.stop('SIGKILL').catch(() => undefined);
    await this.balancer.stop();
    await this.ollama.stop();
    await this.redis.stopServer();
    await this.postgres.destroy();
    if (process.env.RESILIENCE_KEEP_LOGS === undefined) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Error log lines (level 50 and above) of any replica that name one of these request ids. */
  errorLogLines(requestIds: string[]): string[] {
    const wanted = new Set(requestIds);
    return this.replicas.flatMap((replica) =>
      replica.logLines().filter((line) => {
        const match = /"requestId":"([^"]+)"/.exec(line);
        return match !== null && wanted.has(match[1]) && /"level":(5|6)\d/.test(line);
      }),
    );
  }

  /** Logs of every replica's last lines, for failure messages. */
  logTails(): string {
    return this.replicas.map((r) => r.logTail()).join('\n');
  }
}
