import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { requestPinned } from '../adapters/rest/pinned-http';
import { SsrfGuard } from '../adapters/ssrf-guard';
import { AppError } from '../common/app-error';
import { OAuthError } from './oauth-error';
import { redirectUriProblem } from './redirect-uris';

const MAX_DOCUMENT_BYTES = 64 * 1024;
const FETCH_TIMEOUT_MS = 5_000;
const CACHE_TTL_MS = 5 * 60_000;

export interface ClientMetadata {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  clientUri: string | null;
}

const documentSchema = z.looseObject({
  client_id: z.string(),
  client_name: z.string().trim().min(1).max(200).optional(),
  client_uri: z
    .url({ protocol: /^https$/ })
    .max(2000)
    .optional(),
  redirect_uris: z.array(z.string()).min(1).max(10),
  token_endpoint_auth_method: z.literal('none').default('none'),
  grant_types: z.array(z.string()).optional(),
  response_types: z.array(z.string()).optional(),
});

/** Whether a client_id is a Client ID Metadata Document URL (MCP 2025-11-25) rather than an issued id. */
export function isMetadataDocumentUrl(clientId: string): boolean {
  return clientId.startsWith('https://');
}

/**
 * Client ID Metadata Documents: a client identified by an https URL publishes its metadata there.
 * The document is fetched through the SSRF guard (public addresses only, the checked address pinned),
 * with a timeout and a size cap, validated (its `client_id` must be its own URL, redirect URIs follow
 * the same rules as registration, public clients only) and cached for 5 minutes.
 */
@Injectable()
export class ClientMetadataDocuments {
  private readonly cache = new LRUCache<string, ClientMetadata>({ max: 1_000, ttl: CACHE_TTL_MS });

  constructor(private readonly ssrf: SsrfGuard) {}

  async fetch(clientId: string): Promise<ClientMetadata> {
    const cached = this.cache.get(clientId);
    if (cached !== undefined) return cached;
    const url = documentUrl(clientId);
    let body: Buffer;
    try {
      const target = await this.ssrf.resolve(url.hostname, []);
      const response = await requestPinned(url, target, {
        method: 'GET',
        headers: { accept: 'application/json' },
        connectTimeoutMs: FETCH_TIMEOUT_MS,
        deadline: Date.now() + FETCH_TIMEOUT_MS,
        maxBytes: MAX_DOCUMENT_BYTES,
      });
      if (response.status !== 200) throw invalid(`its metadata document answered HTTP ${response.status}`);
      body = response.body;
    } catch (error) {
      if (error instanceof OAuthError) throw error;
      throw invalid(
        `its metadata document could not be fetched (${error instanceof AppError ? error.code : 'network error'})`,
      );
    }
    const metadata = parseDocument(clientId, body);
    this.cache.set(clientId, metadata);
    return metadata;
  }
}

/** An https URL with a path, no fragment, credentials or dot segments (the MCP specification's rules). */
function documentUrl(clientId: string): URL {
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    throw invalid('it is not a URL');
  }
  if (
    url.protocol !== 'https:' ||
    url.pathname === '/' ||
    url.hash !== '' ||
    clientId.includes('#') ||
    url.username !== '' ||
    url.password !== '' ||
    /\/\.\.?(\/|$)/.test(clientId.replace(/^https:\/\/[^/]+/, '')) ||
    url.href !== clientId
  ) {
    throw invalid('a metadata document client_id must be a normalised https URL with a path');
  }
  return url;
}

export function parseDocument(clientId: string, body: Buffer): ClientMetadata {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('its metadata document is not JSON');
  }
  const parsed = documentSchema.safeParse(json);
  if (!parsed.success) throw invalid('its metadata document is not valid client metadata');
  const document = parsed.data;
  if (document.client_id !== clientId) throw invalid('its metadata document names another client_id');
  const bad = document.redirect_uris.find((uri) => redirectUriProblem(uri) !== undefined);
  if (bad !== undefined) throw invalid('its metadata document has a redirect URI that is not allowed');
  return {
    clientId,
    clientName: document.client_name ?? new URL(clientId).hostname,
    redirectUris: document.redirect_uris,
    clientUri: document.client_uri ?? null,
  };
}

function invalid(reason: string): OAuthError {
  return new OAuthError('invalid_client', `The client cannot be used: ${reason}.`, 400);
}
