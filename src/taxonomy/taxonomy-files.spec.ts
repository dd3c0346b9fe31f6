import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultTaxonomyDirectory,
  findProjectRoot,
  loadTaxonomy,
  parseTaxonomyText,
  TaxonomyLoadError,
} from './taxonomy-files';

describe('taxonomy files', () => {
  let scratch: string;

  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'taxonomy-'));
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  it('tolerates a byte order mark, CR line endings, blank lines and surrounding spaces', () => {
    const text = '\uFEFFFurniture\r\n\r\n  Furniture > Beds  \r\nFurniture>Sofas\n\n';
    expect(parseTaxonomyText(text, 'f.txt')).toEqual([
      'Furniture',
      '  Furniture > Beds  ',
      'Furniture>Sofas',
    ]);
  });

  it('names the file and line of a path with an empty segment', () => {
    expect(() => parseTaxonomyText('Furniture\nFurniture >  > Beds\n', 'bad.txt')).toThrow(
      'bad.txt:2: invalid taxonomy path "Furniture >  > Beds".',
    );
  });

  it('loads every .txt of a folder into one tree', () => {
    writeFileSync(join(scratch, 'b.txt'), 'Furniture\nFurniture > Beds\n');
    writeFileSync(
      join(scratch, 'a.txt'),
      '\uFEFFHome & Garden\r\nHome & Garden > Lighting\r\nFurniture > Beds\r\n',
    );
    writeFileSync(join(scratch, 'notes.md'), 'Not > A > Taxonomy');
    const taxonomy = loadTaxonomy(scratch);
    expect(taxonomy.nodes.map((node) => node.id)).toEqual([
      'Furniture',
      'Furniture > Beds',
      'Home & Garden',
      'Home & Garden > Lighting',
    ]);
  });

  it('fails with a clear message when the folder or its files are missing', () => {
    const missing = join(scratch, 'nope');
    expect(() => loadTaxonomy(missing)).toThrow(TaxonomyLoadError);
    expect(() => loadTaxonomy(missing)).toThrow(`Taxonomy files not found: ${missing} does not exist.`);
    expect(() => loadTaxonomy(scratch)).toThrow('holds no *.txt file');
    writeFileSync(join(scratch, 'empty.txt'), '\n\n');
    expect(() => loadTaxonomy(scratch)).toThrow('hold no path');
  });

  it('finds the project root from source and from compiled output alike', () => {
    writeFileSync(join(scratch, 'package.json'), '{}');
    mkdirSync(join(scratch, 'dist', 'taxonomy'), { recursive: true });
    mkdirSync(join(scratch, 'src', 'taxonomy'), { recursive: true });
    expect(findProjectRoot(join(scratch, 'dist', 'taxonomy'))).toBe(scratch);
    expect(findProjectRoot(join(scratch, 'src', 'taxonomy'))).toBe(scratch);
    expect(defaultTaxonomyDirectory()).toBe(join(findProjectRoot(__dirname), 'assets', 'taxonomy'));
    expect(() => findProjectRoot('/')).toThrow(TaxonomyLoadError);
  });

  describe('the shipped files', () => {
    const directory = defaultTaxonomyDirectory();
    const files = readdirSync(directory).filter((name) => name.endsWith('.txt'));
    const texts = files.map((name) => readFileSync(join(directory, name), 'utf8'));

    it('are clean: no byte order mark, no CR, no blank or padded lines, no repeats, every parent listed', () => {
      expect(files.length).toBe(21);
      expect(texts.every((text) => text.endsWith('\n'))).toBe(true);
      const lines = texts.flatMap((text) => text.slice(0, -1).split('\n'));
      expect(
        lines.filter((line) => /[\uFEFF\r\t]/.test(line) || line !== line.trim() || line === ''),
      ).toEqual([]);
      expect(lines.filter((line) => line.includes('  '))).toEqual([]);
      expect(new Set(lines).size).toBe(lines.length);
      const listed = new Set(lines);
      const orphans = lines.filter(
        (path) => path.includes(' > ') && !listed.has(path.slice(0, path.lastIndexOf(' > '))),
      );
      expect(orphans).toEqual([]);
    });

    it('load into the Google product taxonomy: 21 top-level categories, 5,595 categories', () => {
      const taxonomy = loadTaxonomy();
      expect(taxonomy.size).toBe(5595);
      expect(taxonomy.roots.map((node) => node.name)).toEqual([
        'Animals & Pet Supplies',
        'Apparel & Accessories',
        'Arts & Entertainment',
        'Baby & Toddler',
        'Business & Industrial',
        'Cameras & Optics',
        'Electronics',
        'Food, Beverages & Tobacco',
        'Furniture',
        'Hardware',
        'Health & Beauty',
        'Home & Garden',
        'Luggage & Bags',
        'Mature',
        'Media',
        'Office Supplies',
        'Religious & Ceremonial',
        'Software',
        'Sporting Goods',
        'Toys & Games',
        'Vehicles & Parts',
      ]);
      expect(taxonomy.get('Home & Garden > Lighting > Lamps')).toBeDefined();
      expect(taxonomy.get('Furniture > Beds & Accessories > Beds & Bed Frames')).toBeDefined();
    });
  });
});
