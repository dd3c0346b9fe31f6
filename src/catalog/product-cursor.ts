import { BadRequestError } from '../common/app-error';
import type { ProductKey, ProductSort } from './products.repository';

/**
 * A product keyset cursor: the sort it belongs to and the last row's sort value and id, as
 * base64url JSON. Opaque to clients; a cursor used with another sort or order is refused.
 */
export function encodeProductCursor(sort: ProductSort, order: 'asc' | 'desc', key: ProductKey): string {
  return Buffer.from(JSON.stringify([sort, order, key.value, key.id]), 'utf8').toString('base64url');
}

export function decodeProductCursor(cursor: string, sort: ProductSort, order: 'asc' | 'desc'): ProductKey {
  let decoded: unknown;
  try {
    decoded = /^[A-Za-z0-9_-]{1,1400}$/.test(cursor)
      ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
      : undefined;
  } catch {
    decoded = undefined;
  }
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 4 ||
    decoded[0] !== sort ||
    decoded[1] !== order ||
    !(typeof decoded[2] === 'string' || typeof decoded[2] === 'number') ||
    !Number.isSafeInteger(decoded[3])
  ) {
    throw new BadRequestError(
      'INVALID_CURSOR',
      'The cursor is malformed or belongs to another sort order; use the nextCursor of a previous page with the same sort and order.',
    );
  }
  return { value: decoded[2], id: decoded[3] as number };
}
