import { createReadStream, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/Pick';
import { streamArray } from 'stream-json/streamers/StreamArray';
import { streamValues } from 'stream-json/streamers/StreamValues';

/** A record read from a source file: a JSON value, or a reason it could not be read. */
export type FileRecord = { value: unknown } | { malformed: string };

const IMPORTABLE = /\.(json|ndjson|jsonl)(\.gz)?$/i;

/** The files an import reads: the file itself, or a directory's importable files in name order. */
export function importFiles(path: string): string[] {
  const stat = statSync(path);
  if (!stat.isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => IMPORTABLE.test(name))
    .sort()
    .map((name) => join(path, name))
    .filter((file) => statSync(file).isFile());
}

function open(file: string, onBytes?: (bytes: number) => void): Readable {
  const raw = createReadStream(file);
  if (onBytes !== undefined) raw.on('data', (chunk: Buffer | string) => onBytes(chunk.length));
  return file.toLowerCase().endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
}

type Format = 'ndjson' | 'array' | 'products-document' | 'values';

/**
 * Decides how to read a file from its name and first bytes: NDJSON by extension or when the first
 * line is a complete JSON object on its own; a JSON array; `{ "products": [...] }` (streamed, so a
 * large export is never held in memory whole); anything else as a stream of JSON values (a single
 * product, pretty-printed).
 */
async function detectFormat(file: string): Promise<Format> {
  const name = basename(file).toLowerCase().replace(/\.gz$/, '');
  if (extname(name) === '.ndjson' || extname(name) === '.jsonl') return 'ndjson';
  const head = await readHead(file, 64 * 1024);
  const trimmed = head.trimStart();
  if (trimmed.startsWith('[')) return 'array';
  if (/^\{\s*"products"\s*:\s*\[/.test(trimmed)) return 'products-document';
  const firstLine = trimmed.split('\n', 1)[0];
  try {
    JSON.parse(firstLine);
    return 'ndjson';
  } catch {
    return 'values';
  }
}

async function readHead(file: string, bytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of open(file)) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    if (length >= bytes) break;
  }
  return Buffer.concat(chunks).subarray(0, bytes).toString('utf8');
}

/**
 * Streams a file's products. A malformed NDJSON line is reported and skipped; a JSON document that
 * breaks off is reported once, after the products read before the break.
 */
export async function* readImportFile(
  file: string,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<FileRecord> {
  const format = await detectFormat(file);
  if (format === 'ndjson') {
    const lines = createInterface({ input: open(file, onBytes), crlfDelay: Infinity });
    let number = 0;
    for await (const line of lines) {
      number++;
      if (line.trim() === '') continue;
      try {
        yield* unwrap(JSON.parse(line) as unknown);
      } catch (error) {
        yield { malformed: `${basename(file)} line ${number}: not valid JSON (${(error as Error).message})` };
      }
    }
    return;
  }
  const stages =
    format === 'array'
      ? [parser(), streamArray()]
      : format === 'products-document'
        ? [parser(), pick({ filter: 'products' }), streamArray()]
        : [parser({ jsonStreaming: true }), streamValues()];
  // pipeline() destroys every stage with the first error, so iterating the last stage throws it.
  const values = pipeline([open(file, onBytes), ...stages], () => undefined) as unknown as Readable;
  try {
    for await (const item of values) yield* unwrap((item as { value: unknown }).value);
  } catch (error) {
    yield { malformed: `${basename(file)}: not valid JSON (${(error as Error).message})` };
  }
}

/** A value that is itself a `{ products: [...] }` document or an array contributes its elements. */
function* unwrap(value: unknown): Generator<FileRecord> {
  if (Array.isArray(value)) {
    for (const element of value) yield { value: element };
  } else if (
    value !== null &&
    typeof value === 'object' &&
    Array.isArray((value as { products?: unknown }).products)
  ) {
    for (const element of (value as { products: unknown[] }).products) yield { value: element };
  } else {
    yield { value };
  }
}
