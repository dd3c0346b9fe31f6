import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { PrincipalsService } from '../auth/principals.service';
import { randomToken } from '../auth/secrets';
import { SessionsRepository } from '../auth/sessions.repository';
import { NotFoundError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import { ClientMetadataDocuments, isMetadataDocumentUrl } from './client-metadata-documents';
import { type OAuthClientRow, OAuthClientsRepository } from './oauth-clients.repository';
import { OAuthError } from './oauth-error';
import { parseScopes } from './oauth-scopes';
import { redirectUriProblem } from './redirect-uris';

/** A client as the authorization endpoint needs it. */
export interface OAuthClient {
  clientId: string;
  clientName: string;
  redirectUris: string[];
}

export interface ClientView {
  clientId: string;
  kind: OAuthClientRow['kind'];
  clientName: string;
  redirectUris: string[];
  clientUri: string | null;
  createdAt: string;
  revokedAt: string | null;
  activeGrants: number;
}

/** RFC 7591 metadata we read; unknown fields are ignored, as the RFC asks. */
const registrationSchema = z.looseObject({
  redirect_uris: z.array(z.string()).min(1).max(10),
  client_name: z.string().trim().min(1).max(200).optional(),
  client_uri: z
    .url({ protocol: /^https$/ })
    .max(2000)
    .optional(),
  token_endpoint_auth_method: z.string().optional(),
  grant_types: z.array(z.string()).optional(),
  response_types: z.array(z.string()).optional(),
  scope: z.string().max(2000).optional(),
});

const GRANT_TYPES = ['authorization_code', 'refresh_token'];

/**
 * OAuth clients: public clients registered dynamically (RFC 7591, no secret) and clients identified
 * by a metadata document URL. Revoking a client ends every grant it holds.
 */
@Injectable()
export class OAuthClientsService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly clients: OAuthClientsRepository,
    private readonly documents: ClientMetadataDocuments,
    private readonly sessions: SessionsRepository,
    private readonly principals: PrincipalsService,
    private readonly context: RequestContext,
  ) {}

  async register(body: unknown) {
    const parsed = registrationSchema.safeParse(body ?? {});
    if (!parsed.success) {
      const field = parsed.error.issues[0]?.path.join('.') || 'body';
      throw new OAuthError('invalid_client_metadata', `The client metadata is invalid (${field}).`);
    }
    const metadata = parsed.data;
    const bad = metadata.redirect_uris
      .map((uri) => [uri, redirectUriProblem(uri)])
      .find(([, problem]) => problem);
    if (bad !== undefined)
      throw new OAuthError('invalid_redirect_uri', `The redirect URI ${bad[0]} ${bad[1]}.`);
    if ((metadata.token_endpoint_auth_method ?? 'none') !== 'none') {
      throw new OAuthError(
        'invalid_client_metadata',
        'Only public clients are supported: token_endpoint_auth_method must be none (use PKCE).',
      );
    }
    if ((metadata.grant_types ?? GRANT_TYPES).some((grant) => !GRANT_TYPES.includes(grant))) {
      throw new OAuthError(
        'invalid_client_metadata',
        'grant_types may be authorization_code and refresh_token.',
      );
    }
    if ((metadata.response_types ?? ['code']).some((type) => type !== 'code')) {
      throw new OAuthError('invalid_client_metadata', 'response_types may only be code.');
    }
    if (metadata.scope !== undefined && parseScopes(metadata.scope) === undefined) {
      throw new OAuthError('invalid_client_metadata', 'scope names an unknown scope.');
    }
    const row = await this.clients.insert({
      clientId: randomToken('mcpc_').slice(0, 40),
      kind: 'registered',
      clientName: metadata.client_name ?? 'Unnamed MCP client',
      redirectUris: [...new Set(metadata.redirect_uris)],
      clientUri: metadata.client_uri ?? null,
      createdIp: this.context.client?.ip?.slice(0, 64) ?? null,
    });
    this.context.addAuditDetails({
      clientId: row.clientId,
      clientName: row.clientName,
      redirectUris: row.redirectUris,
    });
    return {
      client_id: row.clientId,
      client_id_issued_at: Math.floor(row.createdAt.getTime() / 1000),
      client_name: row.clientName,
      redirect_uris: row.redirectUris,
      ...(row.clientUri === null ? {} : { client_uri: row.clientUri }),
      grant_types: GRANT_TYPES,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  /** The active client named by `clientId` (fetching its metadata document when it is a URL); invalid_client otherwise. */
  async resolve(clientId: string | undefined): Promise<OAuthClient> {
    if (clientId === undefined || clientId === '' || clientId.length > 2048) {
      throw new OAuthError('invalid_client', 'client_id is missing or invalid.');
    }
    if (isMetadataDocumentUrl(clientId)) {
      const known = await this.clients.find(clientId);
      if (known?.revokedAt != null) throw unknownClient();
      const metadata = await this.documents.fetch(clientId);
      const row = await this.txHost.withTransaction(() => this.clients.upsertDocument(metadata));
      return { clientId: row.clientId, clientName: row.clientName, redirectUris: row.redirectUris };
    }
    const row = await this.clients.find(clientId);
    if (row === undefined || row.revokedAt !== null || row.kind !== 'registered') throw unknownClient();
    return { clientId: row.clientId, clientName: row.clientName, redirectUris: row.redirectUris };
  }

  async list(page: number, limit: number) {
    const result = await this.clients.page(page, limit);
    return { items: result.items.map(toView), total: result.total, page, limit };
  }

  /** Revokes the client and ends its grants (their tokens stop working within seconds everywhere). */
  async revoke(clientId: string): Promise<void> {
    if (!(await this.clients.revoke(clientId))) {
      throw new NotFoundError('OAUTH_CLIENT_NOT_FOUND', 'No active OAuth client with this id.');
    }
    const ended = await this.sessions.revokeClientGrants(clientId, 'oauth_client_revoked');
    this.context.addAuditDetails({ clientId, grantsRevoked: ended.length });
    this.principals.invalidate();
  }
}

function unknownClient(): OAuthError {
  return new OAuthError('invalid_client', 'The client is unknown or has been revoked.');
}

function toView(row: OAuthClientRow & { activeGrants: number }): ClientView {
  return {
    clientId: row.clientId,
    kind: row.kind,
    clientName: row.clientName,
    redirectUris: row.redirectUris,
    clientUri: row.clientUri,
    createdAt: row.createdAt.toISOString(),
    revokedAt: row.revokedAt?.toISOString() ?? null,
    activeGrants: row.activeGrants,
  };
}
