import { randomUUID } from 'node:crypto';
import { type Stats, constants } from 'node:fs';
import {
  type FileHandle,
  access,
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  stat,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  type AppError,
} from '../../common/app-error';

/** Most entries one listing returns; the rest are reported with `truncated: true`. */
export const MAX_LIST_ENTRIES = 1000;
/** Longest path accepted (Linux PATH_MAX). */
export const MAX_PATH_LENGTH = 4096;

export type FileEncoding = 'utf8' | 'base64';
export type WriteMode = 'create' | 'overwrite';
export type EntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface DirectoryEntry {
  readonly name: string;
  readonly type: EntryType;
  readonly size: number;
  readonly modifiedAt: string;
}
export interface ListResult {
  readonly path: string;
  readonly entries: DirectoryEntry[];
  readonly truncated: boolean;
}
export interface ReadOptions {
  readonly offset?: number;
  readonly length?: number;
  readonly encoding: FileEncoding;
}
export interface ReadResult {
  readonly path: string;
  readonly encoding: FileEncoding;
  readonly content: string;
  readonly size: number;
  readonly offset: number;
  readonly bytesRead: number;
  readonly eof: boolean;
}
export interface WriteOptions {
  readonly encoding: FileEncoding;
  readonly mode: WriteMode;
  readonly createParents?: boolean;
}
export interface WriteResult {
  readonly path: string;
  readonly bytesWritten: number;
  readonly created: boolean;
}
export interface MkdirResult {
  readonly path: string;
  readonly created: boolean;
}
export interface FsSandboxOptions {
  /** Confirm opened files through /proc/self/fd (default: when /proc is mounted). Tests force the fallback. */
  readonly verifyWithProcFd?: boolean;
}

/** An absolute path that is lexically inside the root, and how it is shown to callers. */
interface Located {
  readonly abs: string;
  readonly shown: string;
}

/**
 * The file tools' security boundary: every path an agent sends is confined to one directory (the root).
 *
 * Three checks, each covering what the previous one cannot see:
 * 1. the text of the path (refuse anything ambiguous rather than interpret it),
 * 2. lexical containment after resolving `.` and `..`,
 * 3. containment of the REAL path on disk, because a symlink inside the root may point anywhere,
 * and then, since the disk can change between a check and an open, the file actually opened is checked
 * again through its descriptor.
 */
export class FsSandbox {
  private constructor(
    /** The real path of the root (symlinks resolved), so that real paths can be compared with it. */
    readonly root: string,
    readonly maxFileBytes: number,
    private readonly procFd: boolean,
  ) {}

  static async open(root: string, maxFileBytes: number, options: FsSandboxOptions = {}): Promise<FsSandbox> {
    if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1) {
      throw new Error(`The file size limit must be a positive integer, not ${maxFileBytes}.`);
    }
    await mkdir(root, { recursive: true });
    const procFd = options.verifyWithProcFd ?? (await canReadProcFd());
    return new FsSandbox(await realpath(root), maxFileBytes, procFd);
  }

  async list(path: string): Promise<ListResult> {
    const { abs, shown } = this.locate(path);
    const real = await this.existing(abs, shown);
    const handle = await this.openVerified(real, constants.O_RDONLY | constants.O_DIRECTORY, shown);
    try {
      // Through /proc the listing reads the very directory that was verified, whatever the path now names.
      const dir = this.procFd ? procFdPath(handle.fd) : real;
      const names = (await readdir(dir)).sort();
      const described = await Promise.all(
        names.slice(0, MAX_LIST_ENTRIES).map((name) => describeEntry(dir, name)),
      );
      return {
        path: shown,
        entries: described.filter((entry): entry is DirectoryEntry => entry !== null),
        truncated: names.length > MAX_LIST_ENTRIES,
      };
    } finally {
      await handle.close();
    }
  }

  async read(path: string, options: ReadOptions): Promise<ReadResult> {
    const { abs, shown } = this.locate(path);
    const offset = options.offset ?? 0;
    const length = Math.min(options.length ?? this.maxFileBytes, this.maxFileBytes);
    assertCount(offset, 'offset', 0);
    assertCount(length, 'length', 1);
    const real = await this.existing(abs, shown);
    // Refused before opening: opening a device or a FIFO can block or have side effects.
    if (!(await statAt(real, shown)).isFile()) throw notAFile(shown);
    // O_NONBLOCK: should a FIFO be swapped in after the check, the open does not hang.
    const handle = await this.openVerified(real, constants.O_RDONLY | constants.O_NONBLOCK, shown);
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw notAFile(shown);
      const buffer = Buffer.alloc(Math.max(0, Math.min(length, info.size - offset)));
      const bytesRead = await readFully(handle, buffer, offset);
      return {
        path: shown,
        encoding: options.encoding,
        content: buffer.subarray(0, bytesRead).toString(options.encoding),
        size: info.size,
        offset,
        bytesRead,
        eof: offset + bytesRead >= info.size,
      };
    } finally {
      await handle.close();
    }
  }

  async write(path: string, content: string, options: WriteOptions): Promise<WriteResult> {
    const { abs, shown } = this.locate(path);
    if (abs === this.root) throw notAFile(shown);
    const data = decodeContent(content, options.encoding, this.maxFileBytes);
    const parent = options.createParents
      ? (await this.makeDirectories(dirname(abs), shown)).real
      : await this.existingDirectory(dirname(abs), shown);
    const target = join(parent, basename(abs));
    const existing = await this.realInside(target, shown);
    if (existing !== null) {
      if (options.mode === 'create') throw fileExists(shown);
      if (!(await statAt(existing, shown)).isFile()) throw notAFile(shown);
    }
    if (options.mode === 'create') {
      await this.createFile(target, data, shown);
    } else {
      await this.replaceFile(existing ?? target, data, shown);
    }
    return { path: shown, bytesWritten: data.length, created: existing === null };
  }

  async mkdir(path: string): Promise<MkdirResult> {
    const { abs, shown } = this.locate(path);
    const { created } = await this.makeDirectories(abs, shown);
    return { path: shown, created };
  }

  /**
   * Steps 1 and 2: the path's text, then lexical containment. From here on only the resolved absolute
   * path is used, never the caller's text, so `a/../b` cannot mean one thing here and another to the kernel
   * (where `a` could be a symlink).
   */
  private locate(path: string): Located {
    refuseAmbiguousText(path);
    const abs = resolve(this.root, path);
    if (!isWithin(this.root, abs)) throw pathRefused(path, 'leads outside the root');
    const shown = relative(this.root, abs).split(sep).join('/');
    return { abs, shown: shown === '' ? '.' : shown };
  }

  /** The real path of an existing target inside the root; 404 when nothing is there. */
  private async existing(abs: string, shown: string): Promise<string> {
    const real = await this.realInside(abs, shown);
    if (real === null) throw notFound(shown);
    return real;
  }

  private async existingDirectory(abs: string, shown: string): Promise<string> {
    const real = await this.realInside(abs, shown);
    if (real === null) {
      throw new NotFoundError('FILE_NOT_FOUND', `The parent directory of '${shown}' does not exist.`, [
        {
          field: 'path',
          issue: 'the parent directory does not exist; pass createParents: true to create it',
        },
      ]);
    }
    if (!(await statAt(real, shown)).isDirectory()) throw notADirectory(shown);
    return real;
  }

  /**
   * Step 3: the real path of `abs` must be inside the root. When `abs` does not exist, its deepest existing
   * ancestor is checked instead: otherwise a missing file under a symlink to `/etc` would pass (nothing to
   * resolve yet) and then be created in `/etc`. Answers the real path, or null when `abs` does not exist.
   */
  private async realInside(abs: string, shown: string): Promise<string | null> {
    const real = await realOrNull(abs, shown);
    if (real !== null) {
      this.assertWithin(real, shown);
      return real;
    }
    for (let ancestor = dirname(abs); ; ancestor = dirname(ancestor)) {
      const existingAncestor = await realOrNull(ancestor, shown);
      if (existingAncestor !== null) {
        this.assertWithin(existingAncestor, shown);
        return null;
      }
      if (ancestor === dirname(ancestor)) throw pathRefused(shown, 'has no existing ancestor');
    }
  }

  /**
   * Creates the missing directories of `abs` one level at a time from the root. Each level is created
   * in its parent's real path and checked on disk right after, so no level (and nothing under it) can land
   * outside the root, whatever symlinks exist or appear.
   */
  private async makeDirectories(abs: string, shown: string): Promise<{ real: string; created: boolean }> {
    let current = this.root;
    let created = false;
    const segments = relative(this.root, abs)
      .split(sep)
      .filter((part) => part !== '');
    for (const segment of segments) {
      const next = join(current, segment);
      let real = await realOrNull(next, shown);
      if (real === null) {
        try {
          await mkdir(next, { mode: 0o755 });
          created = true;
        } catch (error) {
          // Someone else created it meanwhile: whatever it is now gets the same checks below.
          if (errnoOf(error) !== 'EEXIST') throw fsError(error, shown);
        }
        real = await realOrNull(next, shown);
        if (real === null) throw notFound(shown);
      }
      this.assertWithin(real, shown);
      if (!(await statAt(real, shown)).isDirectory()) throw notADirectory(shown);
      current = real;
    }
    return { real: current, created };
  }

  /** 'create': O_EXCL, so an existing file (or a symlink planted meanwhile) is never written through. */
  private async createFile(target: string, data: Buffer, shown: string): Promise<void> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
    const handle = await this.openVerified(target, flags, shown, 0o644);
    try {
      await handle.writeFile(data);
      await handle.datasync();
    } catch (error) {
      await handle.close();
      await unlink(target).catch(() => undefined);
      throw error;
    }
    await handle.close();
  }

  /**
   * 'overwrite': a temporary file in the same directory, renamed over the target. Readers see the old
   * content or the new one, never half of it, and a failed write leaves the old file untouched.
   */
  private async replaceFile(target: string, data: Buffer, shown: string): Promise<void> {
    const temp = join(dirname(target), `.tmp-${randomUUID()}`);
    const mode = await stat(target).then(
      (info) => info.mode & 0o777,
      () => 0o644,
    );
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
    const handle = await this.openVerified(temp, flags, shown, mode);
    try {
      await handle.writeFile(data);
      await handle.datasync();
      await handle.close();
      await rename(temp, target);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw fsError(error, shown);
    }
  }

  /**
   * Opens with O_NOFOLLOW (a final component swapped for a symlink after the checks is refused by the
   * kernel), then checks the file actually opened: an ancestor swapped for a symlink between the check
   * and the open would otherwise go unnoticed. A file created by such a race stays where it landed (it is
   * empty; removing it by path would race again), but nothing is read from or written to it.
   */
  private async openVerified(path: string, flags: number, shown: string, mode?: number): Promise<FileHandle> {
    let handle: FileHandle;
    try {
      handle = await open(path, flags | constants.O_NOFOLLOW, mode);
    } catch (error) {
      throw fsError(error, shown);
    }
    try {
      this.assertWithin(await this.openedRealPath(handle, path, shown), shown);
      return handle;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  private async openedRealPath(handle: FileHandle, openedPath: string, shown: string): Promise<string> {
    // The kernel's own record of what the descriptor refers to, immune to later renames of the path.
    if (this.procFd) return realpath(procFdPath(handle.fd));
    // Without /proc: the path, resolved now, must still lead to the very file held (same device and inode).
    const [held, real] = await Promise.all([handle.stat(), realpath(openedPath)]);
    const onDisk = await stat(real);
    if (held.dev !== onDisk.dev || held.ino !== onDisk.ino)
      throw pathRefused(shown, 'changed while it was opened');
    return real;
  }

  private assertWithin(real: string, shown: string): void {
    if (!isWithin(this.root, real)) throw pathRefused(shown, 'escapes the root through a symbolic link');
  }
}

/**
 * `candidate` is the root or below it. Compares path segments, not string prefixes, so `/data/files-evil`
 * is not inside `/data/files`; `..foo` (a legal name) is not mistaken for `..`.
 */
function isWithin(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Refuses path text that different layers could read differently. We never decode anything, so a
 * percent sequence would reach the disk literally; refusing it keeps "what the agent meant" and "what we
 * opened" the same, and stops `%2e%2e%2f` tricks aimed at any layer that does decode. Backslashes are
 * separators elsewhere; NUL truncates paths in C; control characters forge log and audit lines.
 */
function refuseAmbiguousText(path: string): void {
  if (path.length > MAX_PATH_LENGTH) throw pathRefused(path, `is longer than ${MAX_PATH_LENGTH} characters`);
  if (path.includes('\0')) throw pathRefused(path, 'contains a NUL byte');
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0001-\u001f\u007f]/.test(path)) throw pathRefused(path, 'contains a control character');
  if (path.includes('\\')) throw pathRefused(path, 'contains a backslash');
  if (/%[0-9a-fA-F]{2}/.test(path)) throw pathRefused(path, 'contains a percent-encoded sequence');
  if (isAbsolute(path)) throw pathRefused(path, 'is absolute; paths are relative to the root');
}

/**
 * realpath, or null when nothing is there. A dangling symlink also reports ENOENT, but it is not
 * "nothing": creating through it would create its target wherever that is, so it is refused.
 */
async function realOrNull(abs: string, shown: string): Promise<string | null> {
  try {
    return await realpath(abs);
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw fsError(error, shown);
  }
  const present = await lstat(abs).then(
    () => true,
    () => false,
  );
  if (present) throw pathRefused(shown, 'goes through a dangling symbolic link');
  return null;
}

/** stat of a path that was just resolved; a concurrent removal becomes a 404, not a 500. */
async function statAt(path: string, shown: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (error) {
    throw fsError(error, shown);
  }
}

async function describeEntry(dir: string, name: string): Promise<DirectoryEntry | null> {
  try {
    // lstat: a symlink is reported as one and never followed, so a listing reveals nothing outside.
    const info = await lstat(join(dir, name));
    const type: EntryType = info.isSymbolicLink()
      ? 'symlink'
      : info.isDirectory()
        ? 'directory'
        : info.isFile()
          ? 'file'
          : 'other';
    return { name, type, size: info.size, modifiedAt: info.mtime.toISOString() };
  } catch {
    return null; // removed between readdir and lstat
  }
}

async function readFully(handle: FileHandle, buffer: Buffer, offset: number): Promise<number> {
  let total = 0;
  while (total < buffer.length) {
    const { bytesRead } = await handle.read(buffer, total, buffer.length - total, offset + total);
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  return total;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeContent(content: string, encoding: FileEncoding, maxBytes: number): Buffer {
  // Node's decoder skips characters it does not know; a strict check means the bytes written are the bytes meant.
  if (encoding === 'base64' && !BASE64.test(content)) {
    throw new BadRequestError('INVALID_BASE64', 'The content is not valid base64.', [
      {
        field: 'content',
        issue: 'must be standard base64 (A-Z, a-z, 0-9, +, /, = padding) without whitespace',
      },
    ]);
  }
  const size = Buffer.byteLength(content, encoding);
  if (size > maxBytes) {
    throw new BadRequestError('FILE_TOO_LARGE', `The content is ${size} bytes; the limit is ${maxBytes}.`, [
      { field: 'content', issue: `at most ${maxBytes} bytes once decoded` },
    ]);
  }
  return Buffer.from(content, encoding);
}

function assertCount(value: number, field: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
      { field, issue: `must be an integer of at least ${min}` },
    ]);
  }
}

async function canReadProcFd(): Promise<boolean> {
  return access('/proc/self/fd').then(
    () => true,
    () => false,
  );
}

function procFdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Maps the errors of file-system calls to AppErrors; unknown ones go on as they are (a 500, logged). */
function fsError(error: unknown, shown: string): unknown {
  switch (errnoOf(error)) {
    case 'ENOENT':
      return notFound(shown);
    case 'ENOTDIR':
      return notADirectory(shown);
    case 'EISDIR':
      return notAFile(shown);
    case 'EEXIST':
      return fileExists(shown);
    case 'ELOOP':
      // With O_NOFOLLOW this is a symlink where a real file or directory was checked a moment ago.
      return pathRefused(shown, 'is or goes through a symbolic link that changed');
    case 'ENAMETOOLONG':
      return pathRefused(shown, 'has a name that is too long');
    case 'EACCES':
    case 'EPERM':
      return new ForbiddenError('FILE_ACCESS_DENIED', `The service may not access '${shown}'.`);
    case undefined:
    default:
      return error;
  }
}

function pathRefused(path: string, issue: string): AppError {
  return new BadRequestError('PATH_REFUSED', `The path ${JSON.stringify(path)} is refused: it ${issue}.`, [
    { field: 'path', issue },
  ]);
}
function notFound(shown: string): AppError {
  return new NotFoundError('FILE_NOT_FOUND', `Nothing exists at '${shown}'.`, [
    { field: 'path', issue: 'not found' },
  ]);
}
function notAFile(shown: string): AppError {
  return new BadRequestError('NOT_A_FILE', `'${shown}' is not a regular file.`, [
    { field: 'path', issue: 'not a regular file' },
  ]);
}
function notADirectory(shown: string): AppError {
  return new BadRequestError('NOT_A_DIRECTORY', `'${shown}' is not a directory.`, [
    { field: 'path', issue: 'not a directory (or a component of it is not)' },
  ]);
}
function fileExists(shown: string): AppError {
  return new ConflictError('FILE_EXISTS', `'${shown}' already exists; use mode 'overwrite' to replace it.`, [
    { field: 'path', issue: 'already exists' },
  ]);
}
