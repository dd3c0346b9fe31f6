import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { FsSandbox, MAX_LIST_ENTRIES } from './fs-sandbox';
import { fsTools } from './fs-tools';

const refused = { code: 'PATH_REFUSED', status: 400 };

describe('FsSandbox', () => {
  let base: string;
  let root: string;
  let outside: string;
  let sandbox: FsSandbox;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'fs-sandbox-'));
    root = join(base, 'root');
    outside = join(base, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret.txt'), 'top secret');
    sandbox = await FsSandbox.open(root, 1024);
    // Planted the way a careless operator or another process could: links inside the root to outside it.
    await symlink(outside, join(root, 'link-out'));
    await symlink(join(outside, 'secret.txt'), join(root, 'secret-link'));
    await symlink(join(outside, 'not-yet'), join(root, 'dangling'));
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('creates the root and keeps its real path', async () => {
    expect(existsSync(root)).toBe(true);
    await symlink(root, join(base, 'root-alias'));
    const viaAlias = await FsSandbox.open(join(base, 'root-alias'), 10);
    expect(viaAlias.root).toBe(sandbox.root);
  });

  describe('refuses every way out', () => {
    it.each([
      ['../../etc/passwd'],
      ['%2e%2e%2fetc%2fpasswd'],
      ['..%252f..%252fetc%252fpasswd'],
      ['/etc/passwd'],
      ['..\\..\\etc\\passwd'],
      ['a\u0000.txt'],
      ['notes\n.txt'],
      ['secret-link'],
      ['link-out/secret.txt'],
      ['link-out/missing.txt'],
      ['dangling'],
      ['docs/../../outside/secret.txt'],
    ])('read %j', async (path) => {
      await expect(sandbox.read(path, { encoding: 'utf8' })).rejects.toMatchObject(refused);
    });

    it.each([['..'], ['link-out'], ['/'], ['link-out/.']])('list %j', async (path) => {
      await expect(sandbox.list(path)).rejects.toMatchObject(refused);
    });

    it('names the escape in the message', async () => {
      await expect(sandbox.read('secret-link', { encoding: 'utf8' })).rejects.toThrow(/escapes the root/);
    });

    it('the <root>-evil prefix trick, for reading and writing', async () => {
      const evil = `${root}-evil`;
      await mkdir(evil);
      await writeFile(join(evil, 'x'), 'evil');
      const path = `../${basename(root)}-evil/x`;
      await expect(sandbox.read(path, { encoding: 'utf8' })).rejects.toMatchObject(refused);
      await expect(
        sandbox.write(`../${basename(root)}-evil/y`, 'data', { encoding: 'utf8', mode: 'create' }),
      ).rejects.toMatchObject(refused);
      expect(existsSync(join(evil, 'y'))).toBe(false);
    });

    it('writing through a symlinked directory', async () => {
      for (const mode of ['create', 'overwrite'] as const) {
        await expect(
          sandbox.write('link-out/new.txt', 'x', { encoding: 'utf8', mode }),
        ).rejects.toMatchObject(refused);
        await expect(
          sandbox.write('link-out/secret.txt', 'owned', { encoding: 'utf8', mode: 'overwrite' }),
        ).rejects.toMatchObject(refused);
      }
      expect(existsSync(join(outside, 'new.txt'))).toBe(false);
      expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
    });

    it('overwriting a symlink that points outside', async () => {
      await expect(
        sandbox.write('secret-link', 'owned', { encoding: 'utf8', mode: 'overwrite' }),
      ).rejects.toMatchObject(refused);
      expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
    });

    it('creating parents under a symlink to outside', async () => {
      await expect(
        sandbox.write('link-out/sub/new.txt', 'x', { encoding: 'utf8', mode: 'create', createParents: true }),
      ).rejects.toMatchObject(refused);
      await expect(sandbox.mkdir('link-out/sub/deeper')).rejects.toMatchObject(refused);
      expect(existsSync(join(outside, 'sub'))).toBe(false);
    });

    it('creating a file under a symlink whose outside target does not exist yet', async () => {
      await expect(
        sandbox.write('dangling/new.txt', 'x', { encoding: 'utf8', mode: 'create', createParents: true }),
      ).rejects.toMatchObject(refused);
      await expect(
        sandbox.write('dangling', 'x', { encoding: 'utf8', mode: 'overwrite' }),
      ).rejects.toMatchObject(refused);
      await expect(sandbox.mkdir('dangling/sub')).rejects.toMatchObject(refused);
      expect(existsSync(join(outside, 'not-yet'))).toBe(false);
    });

    it('a NUL byte in a written path', async () => {
      await expect(
        sandbox.write('a\u0000.txt', 'x', { encoding: 'utf8', mode: 'create' }),
      ).rejects.toMatchObject(refused);
      expect(await readdir(root)).not.toContain('a');
    });

    it('also without /proc (the fstat fallback)', async () => {
      const fallback = await FsSandbox.open(root, 1024, { verifyWithProcFd: false });
      await expect(fallback.read('secret-link', { encoding: 'utf8' })).rejects.toMatchObject(refused);
      await expect(
        fallback.write('link-out/new.txt', 'x', { encoding: 'utf8', mode: 'create' }),
      ).rejects.toMatchObject(refused);
      await fallback.write('plain.txt', 'fine', { encoding: 'utf8', mode: 'create' });
      expect((await fallback.read('plain.txt', { encoding: 'utf8' })).content).toBe('fine');
      expect((await fallback.list('.')).entries.map((entry) => entry.name)).toContain('plain.txt');
    });
  });

  describe('works inside the root', () => {
    it('round-trips utf8 and base64', async () => {
      const written = await sandbox.write('./notes//today.txt', 'héllo wörld', {
        encoding: 'utf8',
        mode: 'create',
        createParents: true,
      });
      expect(written).toEqual({ path: 'notes/today.txt', bytesWritten: 13, created: true });
      const read = await sandbox.read('notes/today.txt', { encoding: 'utf8' });
      expect(read).toEqual({
        path: 'notes/today.txt',
        encoding: 'utf8',
        content: 'héllo wörld',
        size: 13,
        offset: 0,
        bytesRead: 13,
        eof: true,
      });

      const bytes = Buffer.from([0, 255, 1, 254, 10, 13, 0x80]);
      await sandbox.write('blob.bin', bytes.toString('base64'), { encoding: 'base64', mode: 'create' });
      expect(await readFile(join(root, 'blob.bin'))).toEqual(bytes);
      expect((await sandbox.read('blob.bin', { encoding: 'base64' })).content).toBe(bytes.toString('base64'));
    });

    it('reads a range with offset and length', async () => {
      await writeFile(join(root, 'hello.txt'), 'hello world');
      expect(await sandbox.read('hello.txt', { encoding: 'utf8', offset: 6, length: 3 })).toMatchObject({
        content: 'wor',
        bytesRead: 3,
        offset: 6,
        size: 11,
        eof: false,
      });
      expect(await sandbox.read('hello.txt', { encoding: 'utf8', offset: 6 })).toMatchObject({
        content: 'world',
        eof: true,
      });
      expect(await sandbox.read('hello.txt', { encoding: 'utf8', offset: 50 })).toMatchObject({
        content: '',
        bytesRead: 0,
        eof: true,
      });
    });

    it('caps a read at maxFileBytes', async () => {
      const small = await FsSandbox.open(root, 4);
      await writeFile(join(root, 'long.txt'), 'abcdefgh');
      expect(await small.read('long.txt', { encoding: 'utf8', length: 100 })).toMatchObject({
        content: 'abcd',
        bytesRead: 4,
        eof: false,
      });
    });

    it('follows a symlink that stays inside the root', async () => {
      await writeFile(join(root, 'real.txt'), 'inside');
      await symlink(join(root, 'real.txt'), join(root, 'alias.txt'));
      expect((await sandbox.read('alias.txt', { encoding: 'utf8' })).content).toBe('inside');
    });

    it('create refuses an existing file; overwrite replaces it atomically', async () => {
      await sandbox.write('doc.txt', 'first', { encoding: 'utf8', mode: 'create' });
      await expect(
        sandbox.write('doc.txt', 'second', { encoding: 'utf8', mode: 'create' }),
      ).rejects.toMatchObject({
        code: 'FILE_EXISTS',
        status: 409,
      });
      expect(await readFile(join(root, 'doc.txt'), 'utf8')).toBe('first');

      const replaced = await sandbox.write('doc.txt', 'second', { encoding: 'utf8', mode: 'overwrite' });
      expect(replaced).toEqual({ path: 'doc.txt', bytesWritten: 6, created: false });
      expect(await readFile(join(root, 'doc.txt'), 'utf8')).toBe('second');
      expect((await readdir(root)).filter((name) => name.startsWith('.tmp-'))).toEqual([]);

      const fresh = await sandbox.write('new.txt', 'n', { encoding: 'utf8', mode: 'overwrite' });
      expect(fresh.created).toBe(true);
    });

    it('refuses content over the limit and malformed base64', async () => {
      await expect(
        sandbox.write('big.txt', 'x'.repeat(1025), { encoding: 'utf8', mode: 'create' }),
      ).rejects.toMatchObject({ code: 'FILE_TOO_LARGE', status: 400 });
      await expect(
        sandbox.write('b.bin', 'not base64!', { encoding: 'base64', mode: 'create' }),
      ).rejects.toMatchObject({ code: 'INVALID_BASE64' });
      expect(existsSync(join(root, 'big.txt'))).toBe(false);
    });

    it('needs the parent unless createParents', async () => {
      await expect(
        sandbox.write('a/b/c.txt', 'x', { encoding: 'utf8', mode: 'create' }),
      ).rejects.toMatchObject({
        code: 'FILE_NOT_FOUND',
        status: 404,
      });
    });

    it('creates nested directories', async () => {
      expect(await sandbox.mkdir('a/b/c')).toEqual({ path: 'a/b/c', created: true });
      expect(await sandbox.mkdir('a/b/c')).toEqual({ path: 'a/b/c', created: false });
      expect(await sandbox.mkdir('.')).toEqual({ path: '.', created: false });
      await writeFile(join(root, 'a', 'file'), 'x');
      await expect(sandbox.mkdir('a/file/d')).rejects.toMatchObject({ code: 'NOT_A_DIRECTORY', status: 400 });
    });

    it('lists a directory sorted by name', async () => {
      await mkdir(join(root, 'dir'));
      await writeFile(join(root, 'b.txt'), '12345');
      const listing = await sandbox.list('');
      expect(listing.path).toBe('.');
      expect(listing.truncated).toBe(false);
      expect(listing.entries.map((entry) => [entry.name, entry.type])).toEqual([
        ['b.txt', 'file'],
        ['dangling', 'symlink'],
        ['dir', 'directory'],
        ['link-out', 'symlink'],
        ['secret-link', 'symlink'],
      ]);
      const file = listing.entries[0];
      expect(file.size).toBe(5);
      expect(new Date(file.modifiedAt).toISOString()).toBe(file.modifiedAt);
      expect((await sandbox.list('.')).entries).toHaveLength(5);
    });

    it(`stops a listing at ${MAX_LIST_ENTRIES} entries`, async () => {
      await mkdir(join(root, 'many'));
      await Promise.all(
        Array.from({ length: MAX_LIST_ENTRIES + 1 }, (_, i) => writeFile(join(root, 'many', `f${i}`), '')),
      );
      const listing = await sandbox.list('many');
      expect(listing.entries).toHaveLength(MAX_LIST_ENTRIES);
      expect(listing.truncated).toBe(true);
    });

    it('says what is missing or of the wrong kind', async () => {
      await mkdir(join(root, 'dir'));
      await writeFile(join(root, 'file.txt'), 'x');
      await expect(sandbox.read('missing.txt', { encoding: 'utf8' })).rejects.toMatchObject({
        code: 'FILE_NOT_FOUND',
        status: 404,
      });
      await expect(sandbox.read('dir', { encoding: 'utf8' })).rejects.toMatchObject({ code: 'NOT_A_FILE' });
      await expect(sandbox.list('file.txt')).rejects.toMatchObject({ code: 'NOT_A_DIRECTORY' });
      await expect(sandbox.write('dir', 'x', { encoding: 'utf8', mode: 'overwrite' })).rejects.toMatchObject({
        code: 'NOT_A_FILE',
      });
    });
  });
});

describe('fsTools', () => {
  let base: string;
  let tools: Map<string, ReturnType<typeof fsTools>[number]>;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'fs-tools-'));
    const sandbox = await FsSandbox.open(base, 1024);
    tools = new Map(fsTools(sandbox).map((tool) => [tool.name, tool]));
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('defines the four tools with their permissions', () => {
    expect(
      [...tools.values()].map((tool) => [tool.name, tool.permission, tool.annotations.readOnlyHint]),
    ).toEqual([
      ['fs_list_directory', 'tools:fs-read', true],
      ['fs_read_file', 'tools:fs-read', true],
      ['fs_write_file', 'tools:fs-write', false],
      ['fs_create_directory', 'tools:fs-write', false],
    ]);
  });

  it('refuses unknown properties and reads above the limit', () => {
    const read = tools.get('fs_read_file')!;
    expect(read.input.safeParse({ path: 'a', follow: true }).success).toBe(false);
    expect(read.input.safeParse({ path: 'a', length: 1025 }).success).toBe(false);
  });

  it('writes through the handler and audits the size of the content, never the content', async () => {
    const write = tools.get('fs_write_file')!;
    const input = write.input.parse({ path: 'x.txt', content: 'very secret text' });
    expect(write.auditArguments?.(input)).toEqual({
      path: 'x.txt',
      mode: 'create',
      encoding: 'utf8',
      createParents: false,
      contentLength: 16,
    });
    const call = {
      signal: new AbortController().signal,
      transport: 'rest' as const,
      progress: () => Promise.resolve(),
    };
    const result = await write.handler(input, call);
    expect(write.output?.parse(result)).toEqual({ path: 'x.txt', bytesWritten: 16, created: true });
    expect(await readFile(join(base, 'x.txt'), 'utf8')).toBe('very secret text');
  });
});
