import { runPipelineCli } from '../src/cli/pipeline.cli';
import { StubOllama } from './support/stub-ollama';
import { TEST_JWT_SECRET } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';
import { runCatalogImportCli } from '../src/cli/catalog-import.cli';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * In a file of its own: the CLI boots a whole application in this process, and passport keeps one
 * 'jwt' strategy per process, so it would take over the authentication of any other app in the file.
 */
describe('npm run pipeline', () => {
  let db: TestDatabase;
  let stub: StubOllama;
  let dir: string;

  beforeAll(async () => {
    db = await provisionTestDatabase();
    stub = await StubOllama.start();
    dir = mkdtempSync(join(tmpdir(), 'pipeline-cli-'));
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await stub?.stop();
    await db?.drop();
  });

  it('runs a task over products and prints the summary', async () => {
    const env = {
      DATABASE_URL: db.url,
      DB_POOL_SIZE: String(db.poolSize),
      NODE_ENV: 'test',
      JWT_SECRET: TEST_JWT_SECRET,
      OLLAMA_URL: stub.url,
      LLM_DEFAULT_MODEL: 'stub-small:latest',
    };
    const silent = { out: () => undefined, err: () => undefined, progress: false };
    const file = join(dir, 'products.ndjson');
    writeFileSync(
      file,
      [1, 2, 3]
        .map((id) => JSON.stringify({ id, title: `Oak Chair ${id}`, handle: `oak-chair-${id}` }))
        .join('\n'),
    );
    expect(await runCatalogImportCli([file], env, silent)).toBe(0);

    const out: string[] = [];
    const err: string[] = [];
    const code = await runPipelineCli(
      ['--task', 'meta_optimization', '--products', '1,2,3', '--concurrency', '2'],
      env,
      {
        out: (line) => out.push(line),
        err: (line) => err.push(line),
        progress: false,
      },
    );
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toMatch(
      /^Run [0-9a-f-]{36} completed: 3 succeeded, 0 failed, 0 cancelled of 3; tokens \d+ in, \d+ out\.$/,
    );
    expect(stub.chatCalls).toHaveLength(3);
  }, 120_000);

  it('refuses usage errors', async () => {
    const silent = { out: () => undefined, err: () => undefined };
    expect(await runPipelineCli(['--task', 'nope', '--all'], {}, silent)).toBe(2);
    expect(await runPipelineCli(['--task', 'meta_optimization'], {}, silent)).toBe(2);
    expect(await runPipelineCli(['--task', 'meta_optimization', '--products', 'x'], {}, silent)).toBe(2);
  });
});
