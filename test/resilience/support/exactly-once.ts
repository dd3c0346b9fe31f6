import type { ThrowawayPostgres } from './throwaway-postgres';

/**
 * Checks a finished pipeline run against its stored rows: one item per selected product, every
 * item finished, and each item's proposals exactly the changes recorded for it (a worker that lost
 * its lease left nothing behind). Returns the problems found and a few figures.
 */
export async function checkRunExactlyOnce(
  postgres: ThrowawayPostgres,
  runId: string,
  productIds: number[],
): Promise<{ problems: string[]; items: number; retriedItems: number; changes: number }> {
  const problems: string[] = [];
  const items = await postgres.query<{
    id: string;
    product_id: string;
    status: string;
    attempts: number;
    change_ids: string[];
  }>('SELECT id, product_id, status, attempts, change_ids FROM pipeline_items WHERE run_id = $1', [runId]);
  const products = new Set(items.map((item) => Number(item.product_id)));
  if (items.length !== productIds.length || productIds.some((id) => !products.has(id))) {
    problems.push(`${items.length} items for ${productIds.length} selected products`);
  }
  for (const item of items) {
    if (item.status !== 'succeeded') problems.push(`item ${item.id} ended ${item.status}`);
  }
  const changes = await postgres.query<{ id: string; item_id: string | null }>(
    'SELECT id, item_id FROM changes WHERE run_id = $1',
    [runId],
  );
  const recorded = new Map(items.map((item) => [item.id, new Set(item.change_ids)]));
  const perItem = new Map<string, number>();
  for (const change of changes) {
    const owner = change.item_id === null ? undefined : recorded.get(change.item_id);
    if (owner === undefined || !owner.has(change.id))
      problems.push(`change ${change.id} not recorded by its item`);
    perItem.set(change.item_id ?? '', (perItem.get(change.item_id ?? '') ?? 0) + 1);
  }
  for (const item of items) {
    if ((perItem.get(item.id) ?? 0) !== item.change_ids.length) {
      problems.push(
        `item ${item.id} lists ${item.change_ids.length} changes, ${perItem.get(item.id) ?? 0} exist`,
      );
    }
  }
  return {
    problems,
    items: items.length,
    retriedItems: items.filter((item) => item.attempts > 1).length,
    changes: changes.length,
  };
}

/** An import's products were each written once: the summary adds up and every product exists. */
export async function checkImportExactlyOnce(
  postgres: ThrowawayPostgres,
  summary: Record<string, unknown>,
  productIds: number[],
): Promise<string[]> {
  const problems: string[] = [];
  const counts = summary.summary as { created: number; updated: number; unchanged: number; rejected: number };
  if (summary.status !== 'completed') problems.push(`import ended ${String(summary.status)}`);
  if (summary.processed !== productIds.length)
    problems.push(`processed ${String(summary.processed)} of ${productIds.length}`);
  if (counts.created !== productIds.length || counts.updated + counts.unchanged + counts.rejected !== 0) {
    problems.push(`summary ${JSON.stringify(counts)} for ${productIds.length} new products`);
  }
  const [{ n }] = await postgres.query<{ n: string }>(
    'SELECT count(*) AS n FROM products WHERE id = ANY($1)',
    [productIds],
  );
  if (Number(n) !== productIds.length) problems.push(`${n} of ${productIds.length} products exist`);
  return problems;
}
