/**
 * The MCP endpoint as an OAuth protected resource (RFC 8707 / RFC 9728): its identifier, which is
 * also the audience of OAuth access tokens, and where its metadata document is served.
 */
export function mcpResourceUrl(publicBaseUrl: string): string {
  return `${publicBaseUrl}/mcp`;
}

export function mcpResourceMetadataUrl(publicBaseUrl: string): string {
  return `${publicBaseUrl}/.well-known/oauth-protected-resource/mcp`;
}
