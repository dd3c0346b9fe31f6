import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthenticatedError } from '../common/app-error';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';

/** Query parameters that would put a credential into URLs (logs, proxies, browser history). */
const CREDENTIAL_PARAMS = new Set([
  'access_token',
  'token',
  'api_key',
  'apikey',
  'key',
  'jwt',
  'authorization',
]);

/**
 * Transport safeguards of the MCP routes, after authentication: credentials only in headers (a
 * token in the query string is refused with 401), and DNS-rebinding protection: an `Origin`, when
 * sent (browsers do; other clients do not), must be one of MCP_ALLOWED_ORIGINS, and `Host` must be
 * one of MCP_ALLOWED_HOSTS (an entry without a port admits any port), else 403.
 */
@Injectable()
export class McpRequestGuard implements CanActivate {
  private readonly origins: ReadonlySet<string>;

  constructor(@InjectConfig() private readonly config: AppConfig) {
    this.origins = new Set(config.mcp.allowedOrigins);
  }

  canActivate(execution: ExecutionContext): boolean {
    const request = execution.switchToHttp().getRequest<FastifyRequest>();
    const query = request.query as Record<string, unknown> | undefined;
    if (query && Object.keys(query).some((name) => CREDENTIAL_PARAMS.has(name.toLowerCase()))) {
      throw new UnauthenticatedError(
        'TOKEN_IN_QUERY',
        'Credentials in the query string are refused; send them in the Authorization header.',
      );
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin)) {
      throw new ForbiddenError('ORIGIN_NOT_ALLOWED', 'Requests from this origin are not allowed.');
    }
    if (!hostAllowed(request.headers.host, this.config.mcp.allowedHosts)) {
      throw new ForbiddenError('HOST_NOT_ALLOWED', 'Requests for this host are not allowed.');
    }
    return true;
  }

  private originAllowed(origin: string): boolean {
    try {
      return this.origins.has(new URL(origin).origin);
    } catch {
      return false;
    }
  }
}

/** `allowed` entries are `host` (any port) or `host:port`; IPv6 hosts in brackets. */
export function hostAllowed(hostHeader: string | undefined, allowed: readonly string[]): boolean {
  if (hostHeader === undefined || hostHeader === '') return false;
  let parsed: URL;
  try {
    parsed = new URL(`http://${hostHeader}`);
  } catch {
    return false;
  }
  const hostname = parsed.hostname.toLowerCase();
  const withPort = parsed.port === '' ? hostname : `${hostname}:${parsed.port}`;
  return allowed.some((entry) => {
    const normalized = entry.toLowerCase();
    return normalized === withPort || normalized === hostname;
  });
}
