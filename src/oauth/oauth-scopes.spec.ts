import { MCP_TOOLS_SCOPE, parseScopes, permissionsForScopes } from './oauth-scopes';

describe('OAuth scopes', () => {
  it('defaults to mcp:tools, de-duplicates and refuses unknown names', () => {
    expect(parseScopes(undefined)).toEqual([MCP_TOOLS_SCOPE]);
    expect(parseScopes('  ')).toEqual([MCP_TOOLS_SCOPE]);
    expect(parseScopes('products:read products:read changes:propose')).toEqual([
      'products:read',
      'changes:propose',
    ]);
    expect(parseScopes('mcp:tools admin')).toBeUndefined();
  });

  it('grants at most the user current permissions; finer scopes narrow mcp:tools', () => {
    const user = ['products:read', 'changes:propose', 'pipelines:run'];
    expect(permissionsForScopes(['mcp:tools'], user)).toEqual(user);
    expect(permissionsForScopes(['mcp:tools', 'products:read'], user)).toEqual(['products:read']);
    expect(permissionsForScopes(['products:read', 'users:write'], user)).toEqual(['products:read']);
    expect(permissionsForScopes([], user)).toEqual([]);
  });
});
