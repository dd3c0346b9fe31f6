import type { ErrorResponse } from './error-response';
import { mcpResourceMetadataUrl } from './mcp-resource';

/** Paths whose errors are JSON-RPC bodies (MCP transports), not the REST envelope. */
export function isMcpPath(url: string): boolean {
  return url === '/mcp' || url.startsWith('/mcp/') || url.startsWith('/mcp?');
}

/**
 * An HTTP-level refusal on an MCP route: the HTTP status stays, the body is a JSON-RPC error with
 * no id (it answers no particular message). -32001 is what MCP SDK clients read as "session not
 * found"; every other refusal is the generic server error -32000. `data` carries our error code and
 * request id, the same as the REST envelope.
 */
export function jsonRpcErrorBody(error: ErrorResponse, requestId: string): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    error: {
      code: error.status === 404 ? -32001 : -32000,
      message: error.message,
      data: {
        code: error.code,
        ...(error.details === undefined ? {} : { details: error.details }),
        requestId,
      },
    },
    id: null,
  };
}

/**
 * The challenge of a 401 on an MCP route (RFC 6750 + RFC 9728): clients follow `resource_metadata`
 * to discover the authorization server and ask for `scope` (MCP 2025-11-25: so that they do not ask
 * for every scope there is); `invalid_token` when credentials were presented and refused.
 */
export function mcpChallenge(publicBaseUrl: string, code: string): string {
  const error = code === 'UNAUTHENTICATED' ? '' : 'error="invalid_token", ';
  return `Bearer ${error}resource_metadata="${mcpResourceMetadataUrl(publicBaseUrl)}", scope="mcp:tools"`;
}
