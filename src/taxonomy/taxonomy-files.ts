import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { splitPath, Taxonomy } from './taxonomy';

/** Raised at boot when the taxonomy files are missing or unreadable: the service must not start without them. */
export class TaxonomyLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaxonomyLoadError';
  }
}

/**
 * The folder holding package.json above `start`. This file runs as src/taxonomy/*.ts under ts-jest and
 * as dist/taxonomy/*.js once compiled; both sit below the project root, which holds assets/.
 */
export function findProjectRoot(start: string = __dirname): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) {
      throw new TaxonomyLoadError(
        `Cannot find the project root (a folder with package.json) above ${start}.`,
      );
    }
  }
}

export function defaultTaxonomyDirectory(): string {
  return join(findProjectRoot(), 'assets', 'taxonomy');
}

/**
 * The paths of one file, one per line: a UTF-8 byte order mark, CR line endings, surrounding spaces and
 * blank lines are tolerated; a line with an empty segment (`A >  > B`) is an error naming the line.
 */
export function parseTaxonomyText(text: string, source: string): string[] {
  const paths: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    if (splitPath(line) === undefined) {
      throw new TaxonomyLoadError(`${source}:${i + 1}: invalid taxonomy path "${line.trim()}".`);
    }
    paths.push(line);
  });
  return paths;
}

/** Reads every `*.txt` of the folder (sorted by name, so the result does not depend on the file system). */
export function loadTaxonomy(directory: string = defaultTaxonomyDirectory()): Taxonomy {
  if (!existsSync(directory) || !statSync(directory).isDirectory()) {
    throw new TaxonomyLoadError(
      `Taxonomy files not found: ${directory} does not exist. The service reads the Google product ` +
        'taxonomy from assets/taxonomy/*.txt beside package.json; ship that folder with the build.',
    );
  }
  const files = readdirSync(directory)
    .filter((name) => name.endsWith('.txt'))
    .sort();
  if (files.length === 0) {
    throw new TaxonomyLoadError(`Taxonomy files not found: ${directory} holds no *.txt file.`);
  }
  const paths = files.flatMap((name) =>
    parseTaxonomyText(readFileSync(join(directory, name), 'utf8'), join(directory, name)),
  );
  if (paths.length === 0) {
    throw new TaxonomyLoadError(`Taxonomy files in ${directory} hold no path.`);
  }
  return Taxonomy.fromPaths(paths);
}
