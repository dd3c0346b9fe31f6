import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseShopifyProduct } from './shopify-product';

const SAMPLE = JSON.parse(
  readFileSync(join(__dirname, '..', '..', '..', 'test', 'fixtures', 'sample_product.json'), 'utf8'),
) as Record<string, unknown>;

describe('parseShopifyProduct', () => {
  it('normalises the sample product', () => {
    const parsed = parseShopifyProduct(SAMPLE);
    if (!parsed.ok) throw new Error(parsed.reasons.join('; '));
    const product = parsed.product;
    expect(product).toMatchObject({
      id: 1059061125,
      handle: 'task-floor-lamp',
      vendor: 'MyStore',
      publishedAt: '2015-06-25T21:20:00.000Z',
    });
    expect(product.variants[0]).toMatchObject({
      id: 3290425605,
      price: '959.40',
      imageId: 27928674500653,
      position: 1,
    });
    expect(product.images).toHaveLength(13);
    expect(product.options[0].values).toHaveLength(8);
    expect(product.bodyHtml).toContain(
      '<a href="http://www.2modern.com/products/task-table-light" rel="noopener noreferrer nofollow">',
    );
    expect(product.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(parseShopifyProduct(SAMPLE)).toEqual(parsed);
  });

  it('gives a different hash when any kept field changes, and the same when an ignored one does', () => {
    const base = parseShopifyProduct(SAMPLE);
    const ignored = parseShopifyProduct({
      ...SAMPLE,
      updated_at: '2030-01-01T00:00:00Z',
      admin_graphql_api_id: 'x',
    });
    const changed = parseShopifyProduct({ ...SAMPLE, vendor: 'Other' });
    if (!base.ok || !ignored.ok || !changed.ok) throw new Error('unexpected rejection');
    expect(ignored.product.hash).toBe(base.product.hash);
    expect(changed.product.hash).not.toBe(base.product.hash);
  });

  it('accepts string ids, comma-separated tags and a category object', () => {
    const parsed = parseShopifyProduct({
      id: '42',
      title: '  Lamp ',
      handle: 'lamp',
      tags: 'b, a, B, ,c',
      category: { full_name: 'Home & Garden > Lighting' },
    });
    expect(parsed).toMatchObject({
      ok: true,
      product: {
        id: 42,
        title: 'Lamp',
        tags: ['b', 'a', 'c'],
        category: 'Home & Garden > Lighting',
        variants: [],
      },
    });
  });

  it('rejects with one reason per problem, never throwing', () => {
    for (const input of [null, 'text', 7, []]) expect(parseShopifyProduct(input).ok).toBe(false);
    const parsed = parseShopifyProduct({
      id: -1,
      handle: 'has space',
      variants: [{ id: 1 }, { id: 1 }],
      images: [{ id: 2, src: 'javascript:alert(1)' }],
    });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^id: /),
        'title: is required',
        expect.stringMatching(/^handle: must not contain spaces/),
        expect.stringMatching(/^images\.0\.src: /),
      ]),
    );
    const duplicates = parseShopifyProduct({
      id: 5,
      title: 'x',
      handle: 'x',
      variants: [{ id: 1 }, { id: 1 }],
    });
    expect(duplicates).toMatchObject({ ok: false, id: 5, reasons: ['variants: id 1 appears twice'] });
    expect(parseShopifyProduct({ id: 2 ** 53, title: 'x', handle: 'x' }).ok).toBe(false);
  });
});
