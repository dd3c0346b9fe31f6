import type { EditableField, FieldValue } from '../catalog/product-fields';

export const CHANGE_SOURCES = ['user', 'import', 'pipeline', 'mcp'] as const;
export type ChangeSource = (typeof CHANGE_SOURCES)[number];

export const CHANGE_STATUSES = ['proposed', 'applied', 'rejected', 'reverted'] as const;
export type ChangeStatus = (typeof CHANGE_STATUSES)[number];

export interface ChangeView {
  id: string;
  productId: number;
  field: EditableField;
  oldValue: FieldValue;
  newValue: FieldValue;
  source: ChangeSource;
  status: ChangeStatus;
  confidence: number | null;
  runId: string | null;
  itemId: string | null;
  actor: { type: string; id: string | null; label: string | null };
  reviewer: { id: string; label: string | null } | null;
  reviewedAt: string | null;
  comment: string | null;
  revertsChangeId: string | null;
  requestId: string | null;
  createdAt: string;
}

export interface NewChange {
  productId: number;
  field: EditableField;
  oldValue: FieldValue;
  newValue: FieldValue;
  source: ChangeSource;
  status: 'proposed' | 'applied';
  confidence?: number | null;
  runId?: string | null;
  itemId?: string | null;
  comment?: string | null;
  revertsChangeId?: string | null;
}

export interface ChangeFilters {
  status?: ChangeStatus;
  productId?: number;
  runId?: string;
  source?: ChangeSource;
  field?: EditableField;
  from?: Date;
  to?: Date;
}
