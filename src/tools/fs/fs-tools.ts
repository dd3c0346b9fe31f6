import { z } from 'zod';
import { READ_ONLY, type ToolDefinition, defineTool } from '../tool.types';
import { type FsSandbox, MAX_LIST_ENTRIES, MAX_PATH_LENGTH } from './fs-sandbox';

const PATH_RULES =
  'Paths are relative to the file root and use \'/\' ("" or "." is the root); absolute paths, \'..\' leading ' +
  'outside the root, backslashes, percent-encoding (%2e…) and symbolic links to outside the root are refused ' +
  'with PATH_REFUSED.';

const pathField = z
  .string()
  .max(MAX_PATH_LENGTH)
  .describe('Relative to the file root, \'/\'-separated, e.g. "reports/2024/summary.txt".');
const encodingField = z
  .enum(['utf8', 'base64'])
  .default('utf8')
  .describe('utf8 for text; base64 for binary data or byte-exact chunks.');

const listOutput = z.object({
  path: z.string(),
  entries: z.array(
    z.object({
      name: z.string(),
      type: z.enum(['file', 'directory', 'symlink', 'other']),
      size: z.number(),
      modifiedAt: z.string(),
    }),
  ),
  truncated: z.boolean(),
});
const readOutput = z.object({
  path: z.string(),
  encoding: z.enum(['utf8', 'base64']),
  content: z.string(),
  size: z.number(),
  offset: z.number(),
  bytesRead: z.number(),
  eof: z.boolean(),
});
const writeOutput = z.object({ path: z.string(), bytesWritten: z.number(), created: z.boolean() });
const mkdirOutput = z.object({ path: z.string(), created: z.boolean() });

/** The file tools over one sandbox: list and read need `tools:fs-read`, write and mkdir `tools:fs-write`. */
export function fsTools(sandbox: FsSandbox): ToolDefinition[] {
  const max = sandbox.maxFileBytes;
  return [
    defineTool({
      name: 'fs_list_directory',
      title: 'List a directory',
      description:
        `Lists the entries of a directory under the file root, sorted by name, with type, size and modification ` +
        `time; at most ${MAX_LIST_ENTRIES} entries (then truncated is true). Symbolic links are shown as such and ` +
        `not followed. ${PATH_RULES}`,
      input: z.strictObject({ path: pathField.default('.') }),
      output: listOutput,
      permission: 'tools:fs-read',
      annotations: READ_ONLY,
      handler: ({ path }) => sandbox.list(path),
    }),
    defineTool({
      name: 'fs_read_file',
      title: 'Read a file',
      description:
        `Reads a file under the file root: up to ${max} bytes per call from \`offset\` (default 0). When eof is ` +
        `false, call again with offset + bytesRead to read on. Use encoding base64 for binary files; utf8 chunks ` +
        `may split a multi-byte character at their edges. ${PATH_RULES}`,
      input: z.strictObject({
        path: pathField,
        offset: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('Byte offset to start at.'),
        length: z.int().min(1).max(max).optional().describe(`Bytes to read; default and maximum ${max}.`),
        encoding: encodingField,
      }),
      output: readOutput,
      permission: 'tools:fs-read',
      annotations: READ_ONLY,
      handler: ({ path, ...options }) => sandbox.read(path, options),
    }),
    defineTool({
      name: 'fs_write_file',
      title: 'Write a file',
      description:
        `Writes a whole file under the file root (at most ${max} bytes once decoded). mode "create" (the default) ` +
        `fails with FILE_EXISTS when the file exists; mode "overwrite" replaces it atomically (or creates it). The ` +
        `parent directory must exist unless createParents is true. ${PATH_RULES}`,
      input: z.strictObject({
        path: pathField,
        // Base64 is 4 characters per 3 bytes; the sandbox checks the decoded size exactly.
        content: z.string().max(Math.ceil(max / 3) * 4),
        encoding: encodingField,
        mode: z.enum(['create', 'overwrite']).default('create'),
        createParents: z.boolean().default(false).describe('Create missing parent directories.'),
      }),
      output: writeOutput,
      permission: 'tools:fs-write',
      // Overwriting replaces what was there, so this is destructive and not safe to repeat blindly.
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: false,
      },
      // File contents may be anything (personal data, secrets): the audit trail records their size only.
      auditArguments: ({ path, mode, encoding, createParents, content }) => ({
        path,
        mode,
        encoding,
        createParents,
        contentLength: content.length,
      }),
      handler: ({ path, content, ...options }) => sandbox.write(path, content, options),
    }),
    defineTool({
      name: 'fs_create_directory',
      title: 'Create a directory',
      description:
        `Creates a directory under the file root, with any missing parents. An existing directory is not an ` +
        `error (created is false). ${PATH_RULES}`,
      input: z.strictObject({ path: pathField }),
      output: mkdirOutput,
      permission: 'tools:fs-write',
      // Never removes or replaces anything, and a repeat changes nothing.
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
      handler: ({ path }) => sandbox.mkdir(path),
    }),
  ];
}
