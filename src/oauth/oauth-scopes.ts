import { ALL_PERMISSIONS, isPermission } from '../authz/permissions';

/** Every tool, resource and prompt the user may use over MCP. */
export const MCP_TOOLS_SCOPE = 'mcp:tools';

export const SUPPORTED_SCOPES: readonly string[] = [MCP_TOOLS_SCOPE, ...ALL_PERMISSIONS];

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  [MCP_TOOLS_SCOPE]: 'Use every MCP tool, resource and prompt your account may use',
};

/**
 * The scopes of a request: space-separated, each `mcp:tools` or a permission name; none given means
 * `mcp:tools`. Undefined when one is unknown (the caller answers `invalid_scope`).
 */
export function parseScopes(scope: string | undefined): string[] | undefined {
  const names = [...new Set((scope ?? '').split(' ').filter((name) => name !== ''))];
  if (names.length === 0) return [MCP_TOOLS_SCOPE];
  return names.every((name) => name === MCP_TOOLS_SCOPE || isPermission(name)) ? names : undefined;
}

/**
 * What a grant lets its tokens do, re-computed on every request: permission scopes narrow it to
 * those permissions; `mcp:tools` alone admits everything the user may do. Always within the user's
 * current permissions.
 */
export function permissionsForScopes(
  scopes: readonly string[],
  userPermissions: readonly string[],
): string[] {
  const fine = new Set<string>(scopes.filter((scope) => isPermission(scope)));
  if (fine.size > 0) return userPermissions.filter((permission) => fine.has(permission));
  return scopes.includes(MCP_TOOLS_SCOPE) ? [...userPermissions] : [];
}

/** How the consent page names a scope. */
export function describeScope(
  scope: string,
  permissionDescriptions: Readonly<Record<string, string>>,
): string {
  return DESCRIPTIONS[scope] ?? permissionDescriptions[scope] ?? scope;
}
