/** Adapter records as connectors see them: validated config and decrypted secrets. */

export type AdapterType = 'rest' | 'postgres';

export interface RestAdapterConfig {
  baseUrl: string;
  headers?: Record<string, string>;
  auth?: 'none' | 'bearer' | 'basic' | 'apiKey';
  timeoutMs?: { connect?: number; total?: number };
  maxResponseBytes?: number;
  allowedMethods?: string[];
  retry?: { attempts?: number; backoffMs?: number };
  cache?: { ttlSeconds: number; keyHeaders?: string[]; scope?: 'shared' | 'principal' };
  rateLimit?: { max: number; windowSeconds: number };
  allowedCidrs?: string[];
  /** Hosts a redirect may go to besides the base URL's own origin. */
  redirectOrigins?: string[];
}

export interface PostgresAdapterConfig {
  poolSize?: number;
  statementTimeoutMs?: number;
  maxRows?: number;
  allowedCidrs?: string[];
}

export interface RestAdapterSecrets {
  bearerToken?: string;
  basic?: { username: string; password: string };
  apiKey?: { in: 'header' | 'query'; name: string; value: string };
}

export interface PostgresAdapterSecrets {
  connectionString?: string;
}

export interface AdapterRecord<
  C = RestAdapterConfig | PostgresAdapterConfig,
  S = RestAdapterSecrets | PostgresAdapterSecrets,
> {
  id: string;
  name: string;
  type: AdapterType;
  config: C;
  secrets: S;
  /** Changes whenever config or secrets change: connectors key their pools and breakers by it. */
  revision: string;
}
