import { BadRequestError } from '../common/app-error';

/**
 * The permission registry and the built-in roles. Code checks permissions, never role names; this
 * file is the only place that says which permissions exist and what each built-in role holds.
 */
export const PERMISSIONS = {
  'users:read': 'List and view users',
  'users:write': 'Create, update, disable users, reset passwords, unlock, assign roles',
  'roles:read': 'List roles and the permission registry',
  'roles:write': 'Create, update and delete custom roles',
  'api-keys:admin': "Manage every user's API keys",
  'audit:read': 'Query, export and verify the audit trail',
  'products:read': 'Read the catalogue',
  'products:write': 'Edit the catalogue',
  'catalog:import': 'Import products',
  'changes:read': 'Read change history and the review queue',
  'changes:propose': 'Propose changes',
  'changes:review': 'Approve, reject and revert changes',
  'prompts:read': 'Read prompt templates',
  'prompts:write': 'Edit prompt templates',
  'taxonomy:read': 'Read the taxonomy',
  'schema:read': 'Introspect the application database schema',
  'pipelines:read': 'Read pipeline runs, items and events',
  'pipelines:run': 'Start, cancel and retry pipeline runs',
  'llm:read': 'Read models and provider health',
  'llm:admin': 'Pull and delete models',
  'adapters:read': 'Read the adapter registry',
  'adapters:write': 'Create, update and delete adapters',
  'adapters:execute': 'Execute, query, test adapters and read their schema',
  'adapters:network': 'Set the allowed network ranges of adapters',
  'cache:read': 'Read cache statistics',
  'cache:admin': 'Purge caches',
  'tools:fs-read': 'Use the file-reading tools',
  'tools:fs-write': 'Use the file-writing tools',
  'tools:shell': 'Use the shell tool',
  'tools:codegen': 'Use the code-generation tools',
} as const;

export type Permission = keyof typeof PERMISSIONS;

export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

export function isPermission(value: string): value is Permission {
  return Object.hasOwn(PERMISSIONS, value);
}

/** 400 UNKNOWN_PERMISSION naming every name that is not in the registry. */
export function assertKnownPermissions(permissions: readonly string[]): void {
  const unknown = permissions.filter((permission) => !isPermission(permission));
  if (unknown.length > 0) {
    throw new BadRequestError(
      'UNKNOWN_PERMISSION',
      `No such permission: ${unknown.join(', ')}.`,
      unknown.map((permission) => ({ field: 'permissions', issue: `unknown permission ${permission}` })),
    );
  }
}

const READS = ALL_PERMISSIONS.filter((p) => p.endsWith(':read'));

export const BUILT_IN_ROLES: Readonly<
  Record<string, { description: string; permissions: readonly Permission[] }>
> = {
  admin: { description: 'Every permission', permissions: ALL_PERMISSIONS },
  operator: {
    description:
      'Daily catalogue work: every read except the audit trail, edits, imports, reviews and pipeline runs',
    permissions: [
      ...READS.filter((p) => p !== 'audit:read'),
      'products:write',
      'catalog:import',
      'changes:propose',
      'changes:review',
      'prompts:write',
      'pipelines:run',
      'adapters:execute',
      'tools:fs-read',
      'tools:codegen',
    ],
  },
  viewer: {
    description: 'Read-only access to the catalogue and its tooling',
    permissions: [
      'products:read',
      'changes:read',
      'prompts:read',
      'taxonomy:read',
      'schema:read',
      'pipelines:read',
      'llm:read',
      'adapters:read',
      'cache:read',
    ],
  },
  agent: {
    description: 'AI agents: read the catalogue, propose changes, run pipelines',
    permissions: [
      'products:read',
      'changes:read',
      'changes:propose',
      'taxonomy:read',
      'pipelines:read',
      'pipelines:run',
    ],
  },
};

export const BUILT_IN_ROLE_NAMES = Object.keys(BUILT_IN_ROLES);
