import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { CategoryAssigner } from '../catalog/category-assigner';
import { changedFields, type EditableField, sameValue } from '../catalog/product-fields';
import { toEditableValues } from '../catalog/product-input';
import { ProductsRepository } from '../catalog/products.repository';
import { productNotFound } from '../catalog/products.service';
import { AppError, BadRequestError, ConflictError, NotFoundError } from '../common/app-error';
import { RequestContext } from '../common/request-context';
import { Taxonomy } from '../taxonomy/taxonomy';
import type { ChangeFilters, ChangeSource, ChangeView } from './change.types';
import { ChangesRepository } from './changes.repository';

/** Ids one bulk request may act on. */
export const MAX_BULK_CHANGES = 1000;

export interface ProposalInput {
  source: Extract<ChangeSource, 'user' | 'pipeline' | 'mcp'>;
  confidence?: number | null;
  comment?: string | null;
  runId?: string | null;
  itemId?: string | null;
}

export type ReviewAction = 'approve' | 'reject';

export interface BulkResult {
  action: ReviewAction;
  items: Array<
    | { id: string; ok: true; status: ChangeView['status'] }
    | { id: string; ok: false; error: { code: string; message: string } }
  >;
  succeeded: number;
  failed: number;
}

const NORMALISER_INPUTS: readonly EditableField[] = ['title', 'productType', 'tags'];

/**
 * Change records and the review flow. Proposals never touch live fields; approving applies one
 * (refused with 409 when the field moved on since the proposal was made), rejecting closes it, and
 * reverting restores an applied change's old value as a new applied change.
 */
@Injectable()
export class ChangesService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly changes: ChangesRepository,
    private readonly products: ProductsRepository,
    private readonly categories: CategoryAssigner,
    private readonly taxonomy: Taxonomy,
    private readonly audit: AuditService,
    private readonly context: RequestContext,
  ) {}

  async list(filters: ChangeFilters, page: number, limit: number) {
    return { ...(await this.changes.list(filters, page, limit)), page, limit };
  }

  async get(id: string): Promise<ChangeView> {
    const change = await this.changes.find(id);
    if (change === undefined) throw changeNotFound(id);
    return change;
  }

  async reviewQueue(page: number, limit: number) {
    const result = await this.changes.reviewQueue(page, limit);
    return {
      items: result.items.map((item) => ({ ...item, oldestAt: item.oldestAt.toISOString() })),
      total: result.total,
      page,
      limit,
    };
  }

  /**
   * Proposes new values for a product's fields: one proposal per field whose value differs from
   * the live one (identical values are not proposed). The caller records `change.propose`.
   */
  async propose(
    productId: number,
    input: Record<string, unknown>,
    proposal: ProposalInput,
  ): Promise<ChangeView[]> {
    const values = toEditableValues(input, (path) => this.taxonomy.get(path) !== undefined);
    return this.txHost.withTransaction(async () => {
      const current = await this.products.lockEditable(productId);
      if (current === undefined) throw productNotFound(productId);
      const changes = changedFields(current.values, values);
      const ids = await this.changes.insertMany(
        changes.map((change) => ({
          productId,
          ...change,
          source: proposal.source,
          status: 'proposed',
          confidence: proposal.confidence ?? null,
          comment: proposal.comment ?? null,
          runId: proposal.runId ?? null,
          itemId: proposal.itemId ?? null,
        })),
        { principal: this.context.principal, requestId: this.context.requestId },
      );
      this.context.addAuditDetails({ productId, fields: changes.map((c) => c.field), changeIds: ids });
      return this.changes.findMany(ids);
    });
  }

  async approve(id: string, comment?: string): Promise<ChangeView> {
    return this.txHost.withTransaction(async () => {
      const change = await this.lockProposed(id);
      const product = await this.products.lockEditable(change.productId);
      if (product === undefined) throw productNotFound(change.productId);
      if (!sameValue(product.values[change.field], change.oldValue)) {
        throw new ConflictError(
          'CHANGE_CONFLICT',
          `${change.field} changed since this proposal was made; reject it or propose again from the current value.`,
          [{ field: change.field, issue: 'the live value differs from the value the proposal started from' }],
        );
      }
      await this.applyField(change.productId, change.field, change.newValue, product.values);
      await this.changes.setStatus(id, 'applied', this.context.principal, comment);
      this.context.addAuditDetails({ productId: change.productId, field: change.field });
      return this.get(id);
    });
  }

  async reject(id: string, comment?: string): Promise<ChangeView> {
    return this.txHost.withTransaction(async () => {
      const change = await this.lockProposed(id);
      await this.changes.setStatus(id, 'rejected', this.context.principal, comment);
      this.context.addAuditDetails({ productId: change.productId, field: change.field });
      return this.get(id);
    });
  }

  /** Restores the old value of an applied change; returns the new applied change that does it. */
  async revert(id: string, comment?: string): Promise<ChangeView> {
    return this.txHost.withTransaction(async () => {
      const change = await this.changes.lock(id);
      if (change === undefined) throw changeNotFound(id);
      if (change.status !== 'applied') {
        throw new ConflictError(
          'CHANGE_NOT_APPLIED',
          `Only applied changes can be reverted; this one is ${change.status}.`,
        );
      }
      const product = await this.products.lockEditable(change.productId);
      if (product === undefined) throw productNotFound(change.productId);
      if (!sameValue(product.values[change.field], change.newValue)) {
        throw new ConflictError(
          'CHANGE_CONFLICT',
          `${change.field} changed again after this change; revert the later change first or edit the product.`,
          [{ field: change.field, issue: 'the live value is no longer the value this change set' }],
        );
      }
      await this.applyField(change.productId, change.field, change.oldValue, product.values);
      const [revertId] = await this.changes.insertMany(
        [
          {
            productId: change.productId,
            field: change.field,
            oldValue: change.newValue,
            newValue: change.oldValue,
            source: 'user',
            status: 'applied',
            comment: comment ?? null,
            revertsChangeId: id,
          },
        ],
        { principal: this.context.principal, requestId: this.context.requestId },
      );
      await this.changes.setStatus(id, 'reverted', this.context.principal, undefined);
      this.context.addAuditDetails({
        productId: change.productId,
        field: change.field,
        revertChangeId: revertId,
      });
      return this.get(revertId);
    });
  }

  /**
   * Approves or rejects many proposals, each in its own transaction with its own audit event, so one
   * conflict does not undo the others. Returns a result per id, in request order.
   */
  async bulk(
    action: ReviewAction,
    selection: { ids?: string[]; runId?: string },
    comment?: string,
  ): Promise<BulkResult> {
    if ((selection.ids === undefined) === (selection.runId === undefined)) {
      throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
        { field: 'ids', issue: 'send either ids or runId' },
      ]);
    }
    const ids =
      selection.ids ?? (await this.changes.proposedIdsOfRun(selection.runId as string, MAX_BULK_CHANGES));
    const items: BulkResult['items'] = [];
    for (const id of [...new Set(ids)]) {
      try {
        const change = await this.txHost.withTransaction(async () => {
          const result =
            action === 'approve' ? await this.approve(id, comment) : await this.reject(id, comment);
          await this.audit.record({
            action: action === 'approve' ? 'change.approve' : 'change.reject',
            outcome: 'success',
            resourceType: 'change',
            resourceId: id,
            details: { productId: result.productId, field: result.field, bulk: true },
          });
          return result;
        });
        items.push({ id, ok: true, status: change.status });
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        items.push({ id, ok: false, error: { code: error.code, message: error.message } });
      }
    }
    const succeeded = items.filter((item) => item.ok).length;
    return { action, items, succeeded, failed: items.length - succeeded };
  }

  private async lockProposed(id: string): Promise<ChangeView> {
    const change = await this.changes.lock(id);
    if (change === undefined) throw changeNotFound(id);
    if (change.status !== 'proposed') {
      throw new ConflictError(
        'CHANGE_NOT_PROPOSED',
        `This change is ${change.status}, not waiting for review.`,
      );
    }
    return change;
  }

  private async applyField(
    productId: number,
    field: EditableField,
    value: ChangeView['newValue'],
    current: Parameters<CategoryAssigner['refresh']>[1] & Record<EditableField, ChangeView['newValue']>,
  ): Promise<void> {
    await this.products.applyValues(productId, { [field]: value });
    if (NORMALISER_INPUTS.includes(field)) {
      await this.categories.refresh(productId, { ...current, [field]: value });
    }
  }
}

function changeNotFound(id: string): NotFoundError {
  return new NotFoundError('CHANGE_NOT_FOUND', `No change with id ${id}.`);
}
