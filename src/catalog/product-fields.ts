/**
 * The product fields that edits, proposals and imports change, by their API (camelCase) names. Change
 * records name these fields; their values are stored as JSON: strings or null, string arrays for
 * `tags` and `seoKeywords`, ISO-8601 strings or null for `publishedAt`.
 */
export const EDITABLE_FIELDS = [
  'title',
  'bodyHtml',
  'vendor',
  'productType',
  'category',
  'tags',
  'seoTitle',
  'seoDescription',
  'seoKeywords',
  'publishedAt',
] as const;

export type EditableField = (typeof EDITABLE_FIELDS)[number];

export type FieldValue = string | string[] | null;

export type EditableValues = Record<EditableField, FieldValue>;

export function isEditableField(value: string): value is EditableField {
  return (EDITABLE_FIELDS as readonly string[]).includes(value);
}

/** Equality of stored field values (arrays compare in order: tag order is part of the product). */
export function sameValue(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** Trims, drops empties and repeats (case-insensitively, first spelling wins), keeps order. */
export function normalizeTerms(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const result: string[] = [];
  for (const raw of values) {
    const value = raw.trim().replace(/\s+/g, ' ');
    const key = value.toLowerCase();
    if (value === '' || seen.has(key)) continue;
    seen.add(key);
    result.push(value);
  }
  return result;
}

/** The fields whose values differ, in registry order. */
export function changedFields(
  current: EditableValues,
  next: Partial<EditableValues>,
): Array<{ field: EditableField; oldValue: FieldValue; newValue: FieldValue }> {
  const changes: Array<{ field: EditableField; oldValue: FieldValue; newValue: FieldValue }> = [];
  for (const field of EDITABLE_FIELDS) {
    if (!(field in next)) continue;
    const newValue = next[field] ?? null;
    if (!sameValue(current[field], newValue)) changes.push({ field, oldValue: current[field], newValue });
  }
  return changes;
}
