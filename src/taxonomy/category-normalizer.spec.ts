import { CategoryNormalizer, type ProductCategoryInput } from './category-normalizer';
import { Taxonomy } from './taxonomy';
import { loadTaxonomy } from './taxonomy-files';

/** The fields the normaliser reads, from the Shopify sample product (products.json shape). */
const TASK_FLOOR_LAMP: ProductCategoryInput = {
  title: 'Task Floor Lamp',
  productType: 'Lighting/Lamps/Floor Lamps/Reading Floor Lamps',
  tags: [
    'Brand: Original BTC',
    'Collection: Task',
    'Color: Black',
    'Color: Blue',
    'Color: Gray',
    'Color: Green',
    'Color: Red',
    'Color: Silver',
    'Color: White',
    'Dry Rated',
    'Feature: Handmade',
    'Feature: Quick Ship',
    'Feature: UL Listed',
    'Finish: Polish Aluminum',
    'Finish: Polished Chrome',
    'Floor Lamp',
    'Grade: Commercial',
    'GTK: Sustainable Brand',
    'Indoor',
    'Lighting',
    'PFA Status: Unknown',
    'Primary: Floor Lamp',
    'Reading Lamp',
    'Style: Farmhouse',
    'Style: Scandinavian',
    'Subcategory: Lighting',
  ],
};

describe('CategoryNormalizer', () => {
  const normalizer = new CategoryNormalizer(loadTaxonomy());

  it('maps the sample floor lamp to Home & Garden > Lighting > Lamps, confidently', () => {
    const match = normalizer.normalize(TASK_FLOOR_LAMP);
    expect(match?.path).toBe('Home & Garden > Lighting > Lamps');
    expect(match?.confidence).toBeGreaterThan(0.5);
  });

  it.each<[ProductCategoryInput, string]>([
    [
      { title: "Men's Leather Wallet" },
      'Apparel & Accessories > Handbags, Wallets & Cases > Wallets & Money Clips',
    ],
    [{ title: 'Table Lamp', productType: 'Lighting/Lamps/Table Lamps' }, 'Home & Garden > Lighting > Lamps'],
    [
      { title: 'Lamp Shade, Linen', productType: 'Lighting' },
      'Home & Garden > Lighting Accessories > Lamp Shades',
    ],
    [
      { title: 'Stainless Steel Chef Knife', productType: 'Kitchen' },
      'Home & Garden > Kitchen & Dining > Kitchen Tools & Utensils > Kitchen Knives',
    ],
    [
      { title: 'Wireless Bluetooth Headphones', productType: 'Electronics' },
      'Electronics > Audio > Audio Components > Headphones & Headsets > Headphones',
    ],
    [
      { title: 'Dog Collar', productType: 'Pet Supplies' },
      'Animals & Pet Supplies > Pet Supplies > Pet Collars & Harnesses',
    ],
    [{ title: 'Hiking Backpack 40L', productType: 'Bags' }, 'Luggage & Bags > Backpacks'],
    [{ title: 'Ceramic Vase', productType: 'Home Decor' }, 'Home & Garden > Decor > Vases'],
    [
      { title: 'Organic Green Tea 100g', tags: 'tea, organic' },
      'Food, Beverages & Tobacco > Beverages > Tea & Infusions',
    ],
    [{ title: 'Running Shoes', tags: ['Gender: Men', 'Color: Black'] }, 'Apparel & Accessories > Shoes'],
    [{ title: 'Polarized Sunglasses' }, 'Apparel & Accessories > Clothing Accessories > Sunglasses'],
    [{ title: 'Oak Dining Table', productType: 'Furniture/Tables' }, 'Furniture > Tables'],
  ])('maps %j to %s', (product, path) => {
    expect(normalizer.normalize(product)?.path).toBe(path);
  });

  it('answers null for a product without usable evidence', () => {
    expect(normalizer.normalize({})).toBeNull();
    expect(normalizer.normalize({ title: '', productType: '', tags: [] })).toBeNull();
    expect(normalizer.normalize({ title: null, productType: null, tags: null })).toBeNull();
    expect(normalizer.normalize({ title: 'Zzzq Xqqv 3000' })).toBeNull();
    expect(normalizer.normalize({ title: `'"%;--` })).toBeNull();
    // Attribute tags say nothing about the category: "Brand: Apple" is no fruit.
    expect(normalizer.normalize({ tags: ['Brand: Apple', 'Color: Orange', 'Material: Leather'] })).toBeNull();
  });

  it('takes a product type or tag that already is a full taxonomy path as certain', () => {
    expect(normalizer.normalize({ title: 'Anything', productType: 'home & garden>lighting>LAMPS' })).toEqual({
      path: 'Home & Garden > Lighting > Lamps',
      confidence: 1,
    });
    expect(
      normalizer.normalize({
        tags: ['Google Product Category: Furniture > Beds & Accessories > Mattresses'],
      }),
    ).toEqual({ path: 'Furniture > Beds & Accessories > Mattresses', confidence: 1 });
    // Two paths on different branches are not certain: scored like any other evidence.
    const split = normalizer.normalize({ tags: ['Furniture > Sofas', 'Home & Garden > Lighting > Lamps'] });
    expect(split?.confidence).toBeLessThan(1);
  });

  it('weighs the product type above the title', () => {
    expect(normalizer.normalize({ title: 'Lamp', productType: 'Sofas' })?.path).toBe('Furniture > Sofas');
    expect(normalizer.normalize({ title: 'Sofa', productType: 'Lamps' })?.path).toBe(
      'Home & Garden > Lighting > Lamps',
    );
  });

  it('uses category tags and ignores attribute tags', () => {
    expect(normalizer.normalize({ tags: ['Primary: Floor Lamp'] })?.path).toBe(
      'Home & Garden > Lighting > Lamps',
    );
    expect(normalizer.normalize({ title: 'Bookshelf Speaker', tags: ['Color: Walnut'] })).toEqual(
      normalizer.normalize({ title: 'Bookshelf Speaker' }),
    );
  });

  it('is more confident when the evidence agrees than when it is thin or split', () => {
    const full = normalizer.normalize(TASK_FLOOR_LAMP)!;
    const split = normalizer.normalize({ title: 'Pendant', productType: 'Lighting' })!;
    const generic = normalizer.normalize({ title: 'Accessories' })!;
    const telling = normalizer.normalize({ title: 'Polarized Sunglasses' })!;
    expect(full.confidence).toBeGreaterThan(split.confidence);
    expect(full.confidence).toBeGreaterThan(generic.confidence);
    expect(generic.confidence).toBeLessThan(0.3);
    expect(telling.confidence).toBeGreaterThan(0.8);
  });

  it('keeps confidence within [0, 1] with 3 decimals', () => {
    const products: ProductCategoryInput[] = [
      TASK_FLOOR_LAMP,
      { title: 'a' },
      { title: 'Accessories' },
      { title: 'Kitchen Kitchen Kitchen', productType: 'Kitchen', tags: ['kitchen', 'Primary: Kitchen'] },
      { title: 'Gift Card' },
      { title: 'Apple iPhone 13 Case' },
    ];
    for (const product of products) {
      const match = normalizer.normalize(product);
      if (match === null) continue;
      expect(match.confidence).toBeGreaterThanOrEqual(0);
      expect(match.confidence).toBeLessThanOrEqual(1);
      expect(Math.round(match.confidence * 1000) / 1000).toBe(match.confidence);
    }
  });

  it('is deterministic: same input, same answer, also from a second instance', () => {
    const other = new CategoryNormalizer(loadTaxonomy());
    const first = normalizer.normalize(TASK_FLOOR_LAMP);
    for (let i = 0; i < 5; i++) expect(normalizer.normalize(TASK_FLOOR_LAMP)).toEqual(first);
    expect(other.normalize(TASK_FLOOR_LAMP)).toEqual(first);
    // Tag order does not matter.
    const reversed = { ...TASK_FLOOR_LAMP, tags: [...(TASK_FLOOR_LAMP.tags as string[])].reverse() };
    expect(normalizer.normalize(reversed)).toEqual(first);
  });

  it('prefers the more specific of two categories that explain the evidence equally', () => {
    const taxonomy = Taxonomy.fromPaths(['Apparel', 'Apparel > Shoes', 'Apparel > Shoes > Shoes']);
    expect(new CategoryNormalizer(taxonomy).normalize({ title: 'Shoes' })?.path).toBe(
      'Apparel > Shoes > Shoes',
    );
  });

  it('survives hostile input sizes and types', () => {
    const long = 'lamp '.repeat(10_000);
    expect(
      normalizer.normalize({ title: long, productType: long, tags: Array(5_000).fill('lamp') })?.path,
    ).toBe('Home & Garden > Lighting > Lamps');
    const odd = { title: 42, productType: {}, tags: [null, 7, 'Lamps'] } as unknown as ProductCategoryInput;
    expect(normalizer.normalize(odd)?.path).toBe('Home & Garden > Lighting > Lamps');
  });
});
