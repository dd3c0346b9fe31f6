import type { SsrfGuard } from '../adapters/ssrf-guard';
import { ClientMetadataDocuments, isMetadataDocumentUrl, parseDocument } from './client-metadata-documents';

const URL_ID = 'https://agent.example/oauth/client.json';

function document(overrides: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      client_id: URL_ID,
      client_name: 'Agent',
      redirect_uris: ['http://127.0.0.1/cb'],
      ...overrides,
    }),
  );
}

describe('client ID metadata documents', () => {
  it('recognises https client ids', () => {
    expect(isMetadataDocumentUrl(URL_ID)).toBe(true);
    expect(isMetadataDocumentUrl('mcpc_abc')).toBe(false);
  });

  it('accepts a valid document naming itself', () => {
    expect(parseDocument(URL_ID, document())).toEqual({
      clientId: URL_ID,
      clientName: 'Agent',
      redirectUris: ['http://127.0.0.1/cb'],
      clientUri: null,
    });
  });

  it('refuses documents that name another client, carry bad redirect URIs, want a secret or are not JSON', () => {
    expect(() => parseDocument(URL_ID, document({ client_id: 'https://evil.example/c.json' }))).toThrow(
      /another/,
    );
    expect(() => parseDocument(URL_ID, document({ redirect_uris: ['http://evil.example/cb'] }))).toThrow(
      /redirect/,
    );
    expect(() =>
      parseDocument(URL_ID, document({ token_endpoint_auth_method: 'client_secret_basic' })),
    ).toThrow();
    expect(() => parseDocument(URL_ID, Buffer.from('<html>'))).toThrow(/JSON/);
  });

  it('refuses client id URLs that are not normalised https URLs with a path, before any network use', async () => {
    const resolve = jest.fn();
    const documents = new ClientMetadataDocuments({ resolve } as unknown as SsrfGuard);
    for (const id of [
      'https://agent.example/',
      'https://agent.example/a/../client.json',
      'https://user:pw@agent.example/c.json',
      'https://agent.example/c.json#x',
    ]) {
      await expect(documents.fetch(id)).rejects.toMatchObject({ oauthError: 'invalid_client' });
    }
    expect(resolve).not.toHaveBeenCalled();
  });

  it('refuses a document on a private address (the SSRF guard decides)', async () => {
    const { SsrfGuard } = await import('../adapters/ssrf-guard');
    const guard = new SsrfGuard(() => Promise.resolve([{ address: '10.0.0.5', family: 4 as const }]));
    await expect(new ClientMetadataDocuments(guard).fetch(URL_ID)).rejects.toMatchObject({
      oauthError: 'invalid_client',
      message: expect.stringContaining('ADAPTER_TARGET_FORBIDDEN') as unknown,
    });
  });
});
