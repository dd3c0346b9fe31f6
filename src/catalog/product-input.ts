import { BadRequestError } from '../common/app-error';
import { normalizeTerms, type EditableValues, isEditableField } from './product-fields';
import { sanitizeProductHtml } from './product-html';

/**
 * Turns validated edit input (PATCH bodies, proposals) into stored field values: strings trimmed,
 * HTML sanitised, tags and keywords de-duplicated, timestamps in ISO-8601 UTC. The category must be
 * a taxonomy path when `isKnownCategory` is given.
 */
export function toEditableValues(
  input: Record<string, unknown>,
  isKnownCategory: (path: string) => boolean,
): Partial<EditableValues> {
  const values: Partial<EditableValues> = {};
  for (const [field, raw] of Object.entries(input)) {
    if (raw === undefined) continue;
    if (!isEditableField(field)) {
      throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
        { field, issue: `${field} cannot be changed` },
      ]);
    }
    switch (field) {
      case 'tags':
      case 'seoKeywords':
        values[field] = normalizeTerms(raw as string[]);
        break;
      case 'bodyHtml':
        values[field] = raw === null ? null : sanitizeProductHtml(raw as string);
        break;
      case 'publishedAt':
        values[field] = raw === null ? null : new Date(raw as string).toISOString();
        break;
      case 'title':
      case 'vendor':
      case 'productType':
      case 'category':
      case 'seoTitle':
      case 'seoDescription': {
        const text = raw === null ? null : (raw as string).trim().replace(/\s+/g, ' ');
        if (text === '' && field === 'title') {
          throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
            { field, issue: 'title must not be blank' },
          ]);
        }
        values[field] = text === '' ? null : text;
        break;
      }
    }
  }
  if (typeof values.category === 'string' && !isKnownCategory(values.category)) {
    throw new BadRequestError('UNKNOWN_CATEGORY', 'category must be a full taxonomy path.', [
      { field: 'category', issue: 'not a taxonomy path (see GET /api/v1/taxonomy/search)' },
    ]);
  }
  if (Object.values(input).every((value) => value === undefined)) {
    throw new BadRequestError('NO_FIELDS', 'Send at least one field to change.');
  }
  return values;
}

/** Product ids in paths: decimal, below 2^53. */
export function parseProductId(raw: string): number {
  const id = Number(raw);
  if (!/^[1-9][0-9]{0,15}$/.test(raw) || !Number.isSafeInteger(id)) {
    throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
      { field: 'id', issue: 'must be a positive integer below 2^53' },
    ]);
  }
  return id;
}
