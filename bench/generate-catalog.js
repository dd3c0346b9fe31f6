#!/usr/bin/env node
'use strict';
/**
 * Deterministic catalogue generator: the same --count and --seed always give the same products.
 * Writes NDJSON (gzip when --out ends in .gz) in the Shopify products.json product shape.
 *
 *   node bench/generate-catalog.js --count 10000 --out /tmp/catalog.ndjson.gz [--seed 42]
 */
const { createWriteStream } = require('node:fs');
const { createGzip } = require('node:zlib');
const { pipeline, Readable } = require('node:stream');

const ADJECTIVES = [
  'Classic',
  'Modern',
  'Rustic',
  'Compact',
  'Deluxe',
  'Vintage',
  'Ergonomic',
  'Portable',
  'Premium',
  'Everyday',
  'Nordic',
  'Industrial',
  'Handmade',
  'Organic',
  'Smart',
];
const MATERIALS = [
  'Oak',
  'Walnut',
  'Steel',
  'Cotton',
  'Linen',
  'Leather',
  'Ceramic',
  'Glass',
  'Bamboo',
  'Wool',
  'Aluminium',
  'Marble',
  'Velvet',
  'Rattan',
  'Brass',
];
const PRODUCTS = [
  ['Floor Lamp', 'Lighting/Lamps/Floor Lamps'],
  ['Table Lamp', 'Lighting/Lamps/Table Lamps'],
  ['Dining Table', 'Furniture/Tables/Dining Tables'],
  ['Coffee Table', 'Furniture/Tables/Coffee Tables'],
  ['Armchair', 'Furniture/Chairs/Armchairs'],
  ['Office Chair', 'Furniture/Chairs/Office Chairs'],
  ['Bookshelf', 'Furniture/Shelving/Bookcases'],
  ['Bed Frame', 'Furniture/Beds/Bed Frames'],
  ['Duvet Cover', 'Bedding/Duvet Covers'],
  ['Throw Pillow', 'Decor/Throw Pillows'],
  ['Wall Clock', 'Decor/Clocks/Wall Clocks'],
  ['Area Rug', 'Decor/Rugs'],
  ['Coffee Mug', 'Kitchen/Drinkware/Mugs'],
  ['Chef Knife', 'Kitchen/Knives'],
  ['Backpack', 'Bags/Backpacks'],
  ['Wallet', 'Accessories/Wallets'],
  ['Running Shoe', 'Shoes/Athletic Shoes'],
  ['Rain Jacket', 'Apparel/Outerwear/Jackets'],
  ['Desk Organizer', 'Office/Desk Accessories'],
  ['Planter', 'Garden/Planters'],
];
const COLOURS = ['Black', 'White', 'Grey', 'Blue', 'Green', 'Red', 'Natural', 'Navy', 'Cream', 'Olive'];
const VENDORS = Array.from(
  { length: 50 },
  (_, i) => `Vendor ${String.fromCharCode(65 + (i % 26))}${Math.floor(i / 26) + 1}`,
);
const WORDS =
  'durable comfortable stylish timeless sustainable sturdy lightweight elegant versatile practical crafted designed finish texture warm bright space home room everyday quality detail'.split(
    ' ',
  );

/** mulberry32: small, fast, deterministic. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function product(index, random) {
  const pick = (list) => list[Math.floor(random() * list.length)];
  const id = 7_000_000_000 + index;
  const [noun, type] = pick(PRODUCTS);
  const title = `${pick(ADJECTIVES)} ${pick(MATERIALS)} ${noun} ${index}`;
  const handle = title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const sentences = Array.from({ length: 3 + Math.floor(random() * 6) }, () =>
    Array.from({ length: 8 + Math.floor(random() * 10) }, () => pick(WORDS)).join(' '),
  );
  const colours = [...new Set(Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(COLOURS)))];
  const created = new Date(Date.UTC(2020, 0, 1) + Math.floor(random() * 1500) * 86_400_000).toISOString();
  const images = colours.map((colour, i) => ({
    id: id * 100 + 50 + i,
    position: i + 1,
    src: `https://cdn.example.com/products/${handle}-${colour.toLowerCase()}.jpg`,
    width: 1200,
    height: 1200,
    variant_ids: [id * 100 + i],
  }));
  return {
    id,
    title,
    handle,
    body_html: `<p>${sentences.join('. ')}.</p><ul><li>${pick(MATERIALS)}</li><li>${pick(WORDS)}</li></ul>`,
    published_at: created,
    created_at: created,
    updated_at: created,
    vendor: pick(VENDORS),
    product_type: type,
    tags: [
      ...new Set([
        `Material: ${pick(MATERIALS)}`,
        `Style: ${pick(ADJECTIVES)}`,
        noun,
        ...colours.map((c) => `Color: ${c}`),
      ]),
    ],
    variants: colours.map((colour, i) => ({
      id: id * 100 + i,
      title: colour,
      option1: colour,
      option2: null,
      option3: null,
      sku: `SKU-${index}-${i}`,
      price: (10 + Math.floor(random() * 990) + 0.99).toFixed(2),
      compare_at_price: null,
      position: i + 1,
      grams: Math.floor(random() * 5000),
      available: random() > 0.1,
      requires_shipping: true,
      taxable: true,
      featured_image: { id: images[i].id },
    })),
    images,
    options: [{ name: 'Color', position: 1, values: colours }],
  };
}

function* products(count, seed) {
  const random = rng(seed);
  for (let i = 1; i <= count; i++) yield `${JSON.stringify(product(i, random))}\n`;
}

function main() {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const index = args.indexOf(`--${name}`);
    return index === -1 ? fallback : args[index + 1];
  };
  const count = Number(option('count', '10000'));
  const seed = Number(option('seed', '42'));
  const out = option('out', undefined);
  if (!Number.isInteger(count) || count < 1 || out === undefined) {
    process.stderr.write('usage: generate-catalog.js --count N --out FILE(.ndjson|.ndjson.gz) [--seed S]\n');
    process.exit(2);
  }
  const stages = [
    Readable.from(products(count, seed)),
    ...(out.endsWith('.gz') ? [createGzip()] : []),
    createWriteStream(out),
  ];
  pipeline(stages, (error) => {
    if (error) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
  });
}

if (require.main === module) main();
module.exports = { products };
