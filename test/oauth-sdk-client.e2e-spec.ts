import {
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  refreshAuthorization,
  UnauthorizedError,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InvalidGrantError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { randomBytes } from 'node:crypto';
import { createUser } from './support/auth';
import { formOf } from './support/oauth';
import { freePort } from './support/ports';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

/**
 * MCP Admin's authorization server as the MCP SDK's own OAuth client sees it: the 401 challenge,
 * protected resource and authorization server metadata, dynamic registration, the code flow with
 * PKCE and the resource indicator, the token exchange, and refresh, all chosen by the SDK. Only the
 * person in the browser is scripted, over plain HTTP.
 */

const CLIENT_NAME = 'SDK Test Agent';
// The SDK never follows the final redirect here (the scripted user agent reads it), so nothing listens.
const REDIRECT_URI = 'http://127.0.0.1:48123/callback';

interface Credentials {
  email: string;
  password: string;
}

function postForm(url: URL, fields: Record<string, string>, cookie: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { cookie },
    body: new URLSearchParams(fields),
    redirect: 'manual',
  });
}

async function expectStatus(res: Response, status: number, step: string): Promise<string> {
  const text = await res.text();
  if (res.status !== status)
    throw new Error(`${step}: expected ${status}, got ${res.status}: ${text.slice(0, 300)}`);
  return text;
}

/**
 * What the person does in the browser: open the authorization URL, sign in, press Allow. Answers the
 * URL the browser is sent back to.
 */
async function approveAsUser(authorizationUrl: URL, user: Credentials): Promise<URL> {
  const login = await fetch(authorizationUrl, { redirect: 'manual' });
  const loginPage = await expectStatus(login, 200, 'sign-in page');
  const cookie = login.headers
    .getSetCookie()
    .map((header) => header.split(';')[0])
    .join('; ');
  const signIn = formOf(loginPage, authorizationUrl);
  const consent = await postForm(
    signIn.action,
    { ...signIn.fields, email: user.email, password: user.password },
    cookie,
  );
  const consentPage = await expectStatus(consent, 200, 'sign-in post');
  const decision = formOf(consentPage, signIn.action);
  const done = await postForm(decision.action, { ...decision.fields, decision: 'approve' }, cookie);
  await expectStatus(done, 302, 'consent post');
  const location = done.headers.get('location');
  if (location === null) throw new Error('the consent post did not redirect');
  return new URL(location);
}

/** An in-memory provider whose "browser" is approveAsUser; keeps what the SDK saves so the test can read it. */
class ScriptedUserProvider implements OAuthClientProvider {
  savedClientInformation: OAuthClientInformationMixed | undefined;
  savedTokens: OAuthTokens | undefined;
  savedDiscovery: OAuthDiscoveryState | undefined;
  readonly authorizationUrls: URL[] = [];
  readonly callbacks: URL[] = [];
  private verifier: string | undefined;

  constructor(private readonly user: Credentials) {}

  get redirectUrl(): string {
    return REDIRECT_URI;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: CLIENT_NAME,
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state(): string {
    return randomBytes(12).toString('base64url');
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.savedClientInformation;
  }

  saveClientInformation(information: OAuthClientInformationMixed): void {
    this.savedClientInformation = information;
  }

  tokens(): OAuthTokens | undefined {
    return this.savedTokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.savedTokens = tokens;
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.verifier = codeVerifier;
  }

  codeVerifier(): string {
    if (this.verifier === undefined) throw new Error('no code verifier was saved');
    return this.verifier;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.savedDiscovery = state;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.savedDiscovery;
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.authorizationUrls.push(authorizationUrl);
    this.callbacks.push(await approveAsUser(authorizationUrl, this.user));
  }

  /** The code of the last callback, as the client's redirect handler would read it. */
  lastCode(): string {
    const code = this.callbacks.at(-1)?.searchParams.get('code');
    if (code === undefined || code === null) throw new Error('no authorization code arrived');
    return code;
  }
}

/** The real fetch, with each request noted, so the test can see which documents the SDK read. */
function recordingFetch(log: string[]): typeof fetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : input.toString();
    const response = await fetch(input, init);
    log.push(`${init?.method ?? 'GET'} ${new URL(url).pathname} ${response.status}`);
    return response;
  };
}

describe('OAuth 2.1 with the MCP SDK client (authProvider)', () => {
  let db: TestDatabase;
  let t: TestApp;
  let user: Credentials;
  let baseUrl: string;
  let resource: URL;

  beforeAll(async () => {
    db = await provisionTestDatabase();
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    t = await startTestApp(db, { PUBLIC_BASE_URL: baseUrl, PORT: String(port) }, { listen: true, port });
    resource = new URL(`${baseUrl}/mcp`);
    user = await createUser(t.app, ['agent']);
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  async function toolNames(provider: ScriptedUserProvider, log: string[] = []): Promise<string[]> {
    const client = new Client({ name: 'oauth-sdk', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(resource, { authProvider: provider, fetch: recordingFetch(log) }),
    );
    try {
      return (await client.listTools()).tools.map((tool) => tool.name);
    } finally {
      await client.close();
    }
  }

  /**
   * The first connection: the SDK meets the 401, runs discovery, registration and the authorization
   * request (the scripted user approves), and the connect fails with UnauthorizedError as it would
   * while a real browser is away; then the client hands the code to finishAuth.
   */
  async function authorizeWithSdk(provider: ScriptedUserProvider, log: string[] = []): Promise<void> {
    const first = new Client({ name: 'oauth-sdk', version: '1' });
    const transport = new StreamableHTTPClientTransport(resource, {
      authProvider: provider,
      fetch: recordingFetch(log),
    });
    await expect(first.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(provider.savedTokens).toBeUndefined();
    await transport.finishAuth(provider.lastCode());
    await first.close();
  }

  it('discovers our metadata, registers dynamically, authorizes with PKCE and connects', async () => {
    const provider = new ScriptedUserProvider(user);
    const log: string[] = [];
    await authorizeWithSdk(provider, log);

    // The SDK followed the 401 challenge to our metadata, registered itself, and later exchanged the code.
    expect(log).toEqual([
      'POST /mcp 401',
      'GET /.well-known/oauth-protected-resource/mcp 200',
      'GET /.well-known/oauth-authorization-server 200',
      'POST /oauth/register 201',
      'POST /oauth/token 200',
    ]);
    expect(provider.savedDiscovery).toMatchObject({
      authorizationServerUrl: baseUrl,
      resourceMetadata: { resource: resource.href, authorization_servers: [baseUrl] },
      authorizationServerMetadata: { issuer: baseUrl, token_endpoint: `${baseUrl}/oauth/token` },
    });
    expect(provider.savedClientInformation).toMatchObject({
      client_id: expect.stringMatching(/^mcpc_/),
      client_name: CLIENT_NAME,
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'none',
    });

    // The authorization request it built, and what came back to the redirect URI.
    expect(provider.authorizationUrls).toHaveLength(1);
    const [request] = provider.authorizationUrls;
    expect(`${request.origin}${request.pathname}`).toBe(`${baseUrl}/oauth/authorize`);
    expect(Object.fromEntries(request.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: provider.savedClientInformation?.client_id,
      redirect_uri: REDIRECT_URI,
      code_challenge_method: 'S256',
      resource: resource.href,
    });
    // The 401 challenge names the scope to ask for, so the client does not ask for every scope there is.
    expect(request.searchParams.get('scope')).toBe('mcp:tools');
    const [callback] = provider.callbacks;
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('state')).toBe(request.searchParams.get('state'));
    expect(callback.searchParams.get('iss')).toBe(baseUrl);

    expect(provider.savedTokens).toMatchObject({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      token_type: 'Bearer',
    });
    const names = await toolNames(provider);
    expect(names).toContain('search_products');
    expect(names).not.toContain('generate_code');
    expect(provider.authorizationUrls).toHaveLength(1);
  });

  it('refreshes with the SDK: explicitly, and by itself on a refused token; a rotated token is refused', async () => {
    const provider = new ScriptedUserProvider(user);
    await authorizeWithSdk(provider);
    const issued = provider.savedTokens as OAuthTokens;
    const information = provider.savedClientInformation as OAuthClientInformationMixed;
    const metadata = provider.savedDiscovery?.authorizationServerMetadata;

    const renewed = await refreshAuthorization(baseUrl, {
      metadata,
      clientInformation: information,
      refreshToken: issued.refresh_token ?? '',
      resource,
    });
    expect(renewed.access_token).not.toBe(issued.access_token);
    expect(renewed.refresh_token).toEqual(expect.any(String));
    expect(renewed.refresh_token).not.toBe(issued.refresh_token);
    // Stored the way the SDK stores what it fetches itself: stamped with the issuer.
    provider.saveTokens({ ...renewed, issuer: issued.issuer });
    expect(await toolNames(provider)).toContain('search_products');

    // A refused access token: the SDK refreshes on the 401 by itself and retries, without the browser.
    provider.saveTokens({ ...renewed, access_token: 'no-longer-valid', issuer: issued.issuer });
    const retried: string[] = [];
    expect(await toolNames(provider, retried)).toContain('search_products');
    expect(retried.slice(0, 2)).toEqual(['POST /mcp 401', 'POST /oauth/token 200']);
    expect(provider.savedTokens?.refresh_token).not.toBe(renewed.refresh_token);
    expect(provider.authorizationUrls).toHaveLength(1);

    // A rotated refresh token presented again is refused in a form the SDK understands.
    await expect(
      refreshAuthorization(baseUrl, {
        metadata,
        clientInformation: information,
        refreshToken: issued.refresh_token ?? '',
        resource,
      }),
    ).rejects.toBeInstanceOf(InvalidGrantError);
  });
});
