import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load-config';

const STRONG_SECRET = 'k3Yq9vN2xR7bT1mW5pL8sD4fH6jG0cZa-strong';

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(3000);
    expect(config.http.host).toBe('0.0.0.0');
    expect(config.http.publicBaseUrl).toBe('http://localhost:3000');
    expect(config.http.bodyLimitBytes).toBe(1_048_576);
    expect(config.http.corsOrigins).toEqual([]);
    expect(config.database.url).toBeUndefined();
    expect(config.database.pgliteDataDir).toBe('./data/pglite');
    expect(config.database.poolSize).toBe(10);
    expect(config.rateLimit).toEqual({ enabled: true, ttlSeconds: 60, max: 600, toolsMax: undefined });
    expect(config.jwt.issuer).toBe('mcp-admin');
    expect(config.mcp.allowedHosts).toEqual(['localhost:3000', 'localhost', '127.0.0.1']);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf({
      PORT: 'abc',
      DB_POOL_SIZE: '0',
      LOG_LEVEL: 'loud',
      RATE_LIMIT_ENABLED: 'maybe',
    });
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/PORT/);
    expect(problems.join('\n')).toMatch(/DB_POOL_SIZE/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL/);
    expect(problems.join('\n')).toMatch(/RATE_LIMIT_ENABLED/);
  });

  it('reads a secret from <NAME>_FILE and refuses both forms at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'metrics-token');
    writeFileSync(file, 'file-token-value-1234\n');
    expect(loadConfig({ METRICS_TOKEN_FILE: file }).metrics.token).toBe('file-token-value-1234');
    expect(problemsOf({ METRICS_TOKEN_FILE: file, METRICS_TOKEN: 'x' })).toEqual([
      'METRICS_TOKEN: set either METRICS_TOKEN or METRICS_TOKEN_FILE, not both',
    ]);
    expect(problemsOf({ JWT_SECRET_FILE: join(dir, 'missing') })[0]).toMatch(
      /JWT_SECRET_FILE: cannot read .* \(ENOENT\)/,
    );
  });

  it('parses origins and refuses malformed ones', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).http.corsOrigins).toEqual(
      ['https://a.example', 'http://localhost:5173'],
    );
    expect(loadConfig({ CORS_ORIGINS: '*' }).http.corsOrigins).toBe('*');
    expect(problemsOf({ CORS_ORIGINS: 'https://a.example/path' })[0]).toMatch(/not an origin/);
    expect(problemsOf({ CORS_ORIGINS: '*,https://a.example' })[0]).toMatch(/must stand alone/);
  });

  it('refuses a short JWT secret and a malformed secrets key without echoing them', () => {
    const problems = problemsOf({ JWT_SECRET: 'short-secret-value', SECRETS_KEY: 'bm90LTMyLWJ5dGVz' });
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).not.toContain('short-secret-value');
    expect(problems.join('\n')).not.toContain('bm90LTMyLWJ5dGVz');
  });

  it('decodes a 32-byte secrets key', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(loadConfig({ SECRETS_KEY: key }).secrets.key?.length).toBe(32);
  });

  describe('in production', () => {
    it('refuses a wildcard CORS origin and a missing or placeholder JWT secret', () => {
      expect(problemsOf({ NODE_ENV: 'production', CORS_ORIGINS: '*' })).toEqual([
        'CORS_ORIGINS: a wildcard is not allowed in production',
        expect.stringMatching(/^JWT_SECRET: production needs/),
      ]);
      expect(
        problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'change-me-change-me-change-me-change-me' }),
      ).toEqual([expect.stringMatching(/^JWT_SECRET/)]);
    });

    it('starts with safe settings', () => {
      const config = loadConfig({
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        CORS_ORIGINS: 'https://a.example',
      });
      expect(config.isProduction).toBe(true);
    });
  });
});
