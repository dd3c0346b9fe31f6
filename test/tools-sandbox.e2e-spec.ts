import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { bearer, createUser, signIn } from './support/auth';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

interface CallResult {
  isError: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ text: string }>;
}

/** The file and shell tools through the real app: confinement, the allowlist and their audit. */
describe('file and shell tools', () => {
  let db: TestDatabase;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Record<string, string>;
  let operator: Record<string, string>;
  let work: string;
  let root: string;
  const http = () => request(app.getHttpServer());

  async function call(headers: Record<string, string>, tool: string, args: Record<string, unknown>) {
    const res = await http().post(`/api/v1/tools/${tool}/execute`).set(headers).send({ arguments: args });
    return res;
  }

  function errorCode(result: CallResult): string {
    return (JSON.parse(result.content[0].text) as { error: { code: string } }).error.code;
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tools-e2e-'));
    root = join(work, 'files');
    mkdirSync(root);
    mkdirSync(`${root}-evil`);
    writeFileSync(join(`${root}-evil`, 'x'), 'outside');
    mkdirSync(join(work, 'outside'));
    writeFileSync(join(work, 'outside', 'secret.txt'), 'secret');
    symlinkSync(join(work, 'outside'), join(root, 'link-out'));
    symlinkSync(join(work, 'outside', 'secret.txt'), join(root, 'secret-link.txt'));
    db = await provisionTestDatabase();
    t = await startTestApp(db, {
      TOOLS_FS_ROOT: root,
      TOOLS_SHELL_ENABLED: 'true',
      TOOLS_SHELL_ALLOWLIST: JSON.stringify({
        '/usr/bin/echo': {
          flags: ['-n'],
          positional: { max: 10, pattern: '[^\\u0000]{0,1000}' },
          endOfOptions: false,
        },
      }),
    });
    app = t.app;
    const adminUser = await createUser(app, ['admin']);
    admin = bearer((await signIn(app, adminUser.email, adminUser.password)).accessToken);
    const operatorUser = await createUser(app, ['operator']);
    operator = bearer((await signIn(app, operatorUser.email, operatorUser.password)).accessToken);
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('writes, reads and lists inside the root', async () => {
    const written = await call(admin, 'fs_write_file', {
      path: 'notes/today.txt',
      content: 'hello',
      createParents: true,
    });
    expect(written.status).toBe(200);
    expect(written.body).toMatchObject({
      isError: false,
      structuredContent: { path: 'notes/today.txt', created: true },
    });
    const read = await call(operator, 'fs_read_file', { path: 'notes/today.txt' });
    expect(read.body.structuredContent).toMatchObject({ content: 'hello', eof: true });
    const list = await call(operator, 'fs_list_directory', { path: 'notes' });
    expect(list.body.structuredContent.entries).toEqual([
      expect.objectContaining({ name: 'today.txt', type: 'file' }),
    ]);
    const [event] = await app
      .get(DataSource)
      .query<Array<{ details: { arguments: Record<string, unknown> } }>>(
        `SELECT details FROM audit_events WHERE action = 'tool.execute' AND details->>'tool' = 'fs_write_file'`,
      );
    expect(event.details.arguments).toMatchObject({ path: 'notes/today.txt', contentLength: 5 });
    expect(JSON.stringify(event.details)).not.toContain('hello');
  });

  it('refuses every path-traversal vector', async () => {
    const vectors = [
      '../../etc/passwd',
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '..%252f..%252fetc%252fpasswd',
      '/etc/passwd',
      `../${basename(root)}-evil/x`,
      'secret-link.txt',
      'link-out/secret.txt',
      'a\u0000.txt',
    ];
    for (const path of vectors) {
      const res = await call(admin, 'fs_read_file', { path });
      expect(res.status).toBe(200);
      expect(res.body.isError).toBe(true);
      expect(JSON.stringify(res.body)).not.toContain('secret"');
      expect(['PATH_REFUSED', 'VALIDATION_FAILED']).toContain(errorCode(res.body as CallResult));
    }
    const listOut = await call(admin, 'fs_list_directory', { path: 'link-out' });
    expect(errorCode(listOut.body as CallResult)).toBe('PATH_REFUSED');
    for (const path of ['link-out/new.txt', 'link-out/deeper/new.txt']) {
      const res = await call(admin, 'fs_write_file', { path, content: 'x', createParents: true });
      expect(errorCode(res.body as CallResult)).toBe('PATH_REFUSED');
    }
  });

  it('a write needs tools:fs-write (operator has only fs-read)', async () => {
    const res = await call(operator, 'fs_write_file', { path: 'x.txt', content: 'x' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('PERMISSION_DENIED');
  });

  it('runs allowlisted commands without a shell: every injection vector is literal text', async () => {
    for (const vector of ['; id', '| id', '&& id', '$(id)', '`id`', '\nid']) {
      const res = await call(admin, 'run_command', { command: '/usr/bin/echo', args: [vector] });
      expect(res.body.isError).toBe(false);
      expect(res.body.structuredContent).toMatchObject({ exitCode: 0, stdout: `${vector}\n` });
      expect(res.body.structuredContent.stdout).not.toMatch(/uid=/);
    }
  });

  it('refuses flags, binaries and names outside the allowlist', async () => {
    const refused = [
      { command: '/usr/bin/echo', args: ['--output=/tmp/x'] },
      { command: '/usr/bin/echo', args: ['-o', '/tmp/x'] },
      { command: '/usr/bin/id', args: [] },
      { command: 'echo', args: ['hi'] },
    ];
    for (const args of refused) {
      const res = await call(admin, 'run_command', args);
      expect(res.body.isError).toBe(true);
      expect(['COMMAND_REFUSED', 'COMMAND_NOT_ALLOWED', 'VALIDATION_FAILED']).toContain(
        res.status === 200 ? errorCode(res.body as CallResult) : res.body.error.code,
      );
    }
  });

  it('offers run_command only to holders of tools:shell', async () => {
    const tools = await http().get('/api/v1/tools').set(operator).expect(200);
    const names = tools.body.items.map((tool: { name: string }) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['fs_read_file', 'fs_list_directory', 'generate_code']));
    expect(names).not.toContain('run_command');
    expect(names).not.toContain('fs_write_file');
  });
});
