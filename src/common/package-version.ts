import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The service's version, from package.json (which sits beside dist/ and src/ alike). */
export const PACKAGE_VERSION = (
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;
