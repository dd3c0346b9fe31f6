import type { AuditEventView } from './audit-event';

/** Column order of the CSV export; `details` is its JSON text. */
export const CSV_COLUMNS = [
  'id',
  'occurredAt',
  'requestId',
  'actorType',
  'actorId',
  'actorLabel',
  'action',
  'resourceType',
  'resourceId',
  'outcome',
  'httpStatus',
  'ip',
  'userAgent',
  'details',
  'chainSeq',
  'sealedAt',
  'prevHash',
  'hash',
] as const satisfies ReadonlyArray<keyof AuditEventView>;

/**
 * Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection"), including
 * the full-width forms some spreadsheet programs normalise.
 */
const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One CSV cell: a value a spreadsheet would evaluate gets a leading single quote, then the cell is
 * quoted (RFC 4180, quotes doubled) when it holds a quote, comma or line break.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    text = String(value);
  else text = JSON.stringify(value) ?? '';
  if (FORMULA_START.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV record with its CRLF terminator (RFC 4180). */
export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

export function csvHeader(): string {
  return csvRow(CSV_COLUMNS);
}

export function csvEventRow(event: AuditEventView): string {
  return csvRow(CSV_COLUMNS.map((column) => event[column]));
}
