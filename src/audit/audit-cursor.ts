import { BadRequestError } from '../common/app-error';

const ID = /^[1-9][0-9]{0,15}$/;

/**
 * The keyset cursor is the id of the last item served, base64url-encoded: opaque to clients so that
 * the pagination key can change without breaking their code.
 */
export function encodeCursor(lastId: number): string {
  return Buffer.from(String(lastId), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = /^[A-Za-z0-9_-]{1,24}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const id = ID.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(id)) {
    throw new BadRequestError(
      'INVALID_CURSOR',
      'The cursor is malformed; use the nextCursor of a previous page.',
    );
  }
  return id;
}
