import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import { createUser } from './support/auth';
import { type Pkce, pkce } from './support/oauth';
import { freePort } from './support/ports';
import { startTestApp, type TestApp } from './support/test-app';
import { provisionTestDatabase, type TestDatabase } from './support/test-database';

/**
 * The OAuth sign-in and consent pages in a real browser (Debian's Chromium driven by playwright-core):
 * what a person sees and clicks, the page's own security headers and CSP as a browser applies them
 * (the consent POST's redirect must pass `form-action`), and the code handed back to a loopback client.
 */

const CHROMIUM_PATH = chromiumPath('/usr/bin/chromium');
const SCREENSHOT = join(__dirname, '..', 'test-output', 'oauth-consent.png');
const CLIENT_NAME = 'Browser Test Agent';
/** The primary button's background (#1d4ed8): proof that the CSP admitted the page's stylesheet. */
const PRIMARY_BLUE = 'rgb(29, 78, 216)';

/** TEST_CHROMIUM_PATH when set, else Debian's Chromium when installed; undefined skips the suite. */
function chromiumPath(debianPath: string): string | undefined {
  const configured = process.env.TEST_CHROMIUM_PATH;
  if (configured !== undefined && configured !== '') return configured;
  return existsSync(debianPath) ? debianPath : undefined;
}

/** The client's redirect target: records each callback's URL and answers "done", as a native client would. */
class CallbackServer {
  private readonly server: Server;
  private readonly arrived: URL[] = [];
  private readonly waiting: Array<(url: URL) => void> = [];
  private port = 0;

  constructor() {
    this.server = createHttpServer((request, response) => {
      const url = new URL(request.url ?? '/', `http://127.0.0.1:${this.port}`);
      response.writeHead(200, { 'content-type': 'text/plain' }).end('done');
      if (url.pathname !== '/callback') return;
      const waiter = this.waiting.shift();
      if (waiter === undefined) this.arrived.push(url);
      else waiter(url);
    });
  }

  get redirectUri(): string {
    return `http://127.0.0.1:${this.port}/callback`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /**
   * The next callback to arrive (or the oldest one not yet taken). Gives up after a while so that a
   * redirect the browser refused (a CSP `form-action` that leaves out the client) fails with a reason.
   */
  next(timeoutMs = 15_000): Promise<URL> {
    const ready = this.arrived.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const waiter = (url: URL) => {
        clearTimeout(timer);
        resolve(url);
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(new Error(`no callback reached ${this.redirectUri} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push(waiter);
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

(CHROMIUM_PATH === undefined ? describe.skip : describe)(
  'OAuth sign-in and consent in a real browser (Chromium)',
  () => {
    let db: TestDatabase;
    let t: TestApp;
    let browser: Browser;
    let callbacks: CallbackServer;
    let user: { email: string; password: string };
    let baseUrl: string;
    let resource: string;

    beforeAll(async () => {
      db = await provisionTestDatabase();
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      t = await startTestApp(db, { PUBLIC_BASE_URL: baseUrl, PORT: String(port) }, { listen: true, port });
      resource = `${baseUrl}/mcp`;
      user = await createUser(t.app, ['agent']);
      callbacks = new CallbackServer();
      await callbacks.start();
      browser = await chromium.launch({
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
    });

    afterAll(async () => {
      await browser?.close();
      await callbacks?.close();
      await t?.close();
      await db?.drop();
    });

    async function registerClient(): Promise<string> {
      const res = await fetch(`${baseUrl}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: CLIENT_NAME, redirect_uris: [callbacks.redirectUri] }),
      });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { client_id: string };
      return body.client_id;
    }

    function authorizeUrl(clientId: string, code: Pkce, state: string): string {
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: callbacks.redirectUri,
        code_challenge: code.challenge,
        code_challenge_method: 'S256',
        state,
        scope: 'mcp:tools',
        resource,
      });
      return `${baseUrl}/oauth/authorize?${query.toString()}`;
    }

    /** Opens the authorization URL and signs in by typing into the labelled fields; answers the consent page's response. */
    async function signInThroughPage(page: Page, url: string): Promise<Response> {
      const login = await page.goto(url);
      expect(login?.status()).toBe(200);
      expect(await page.title()).toBe('Sign in to MCP Admin');
      await page.getByLabel('Email').fill(user.email);
      await page.getByLabel('Password').fill(user.password);
      const [consent] = await Promise.all([
        page.waitForResponse(
          (res) => res.request().method() === 'POST' && new URL(res.url()).pathname === '/oauth/authorize',
        ),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      await page.getByRole('button', { name: 'Allow' }).waitFor();
      return consent;
    }

    async function csrfCookie(context: BrowserContext) {
      const cookies = await context.cookies(`${baseUrl}/oauth/authorize`);
      return cookies.find((cookie) => cookie.name === 'mcp_admin_oauth_csrf');
    }

    it('signs in and allows with JavaScript disabled; the code gets a token that lists the tools', async () => {
      const clientId = await registerClient();
      const code = pkce();
      const state = randomBytes(12).toString('base64url');
      const context = await browser.newContext({ javaScriptEnabled: false });
      try {
        const page = await context.newPage();
        const consent = await signInThroughPage(page, authorizeUrl(clientId, code, state));

        expect(consent.status()).toBe(200);
        const headers = consent.headers();
        expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
        expect(headers['content-security-policy']).toContain(
          `http://127.0.0.1:${new URL(callbacks.redirectUri).port}`,
        );
        expect(headers['x-frame-options']).toBe('DENY');
        expect(headers['cache-control']).toBe('no-store');
        const cookie = await csrfCookie(context);
        expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/oauth' });

        expect(await page.title()).toBe(`Authorize ${CLIENT_NAME}`);
        const text = await page.locator('main').innerText();
        expect(text).toContain(CLIENT_NAME);
        expect(text).toContain(clientId);
        expect(text).toContain(new URL(callbacks.redirectUri).host);
        expect(text).toContain('mcp:tools');
        expect(text).toContain(user.email);
        // The stylesheet is admitted by its hash in the CSP; a mismatch would leave the button unstyled.
        expect(await page.getByRole('button', { name: 'Allow' }).evaluate(backgroundColor)).toBe(
          PRIMARY_BLUE,
        );

        mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        expect(statSync(SCREENSHOT).size).toBeGreaterThan(1000);
        process.stdout.write(`consent page screenshot: ${SCREENSHOT}\n`);

        const arrived = callbacks.next();
        await page.getByRole('button', { name: 'Allow' }).click();
        const back = await arrived;
        await page.waitForURL((url) => url.pathname === '/callback');
        expect(await page.locator('body').innerText()).toBe('done');
        expect(back.searchParams.get('state')).toBe(state);
        expect(back.searchParams.get('iss')).toBe(baseUrl);
        expect(back.searchParams.get('error')).toBeNull();
        expect(await csrfCookie(context)).toBeUndefined();

        const tokens = await fetch(`${baseUrl}/oauth/token`, {
          method: 'POST',
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code: back.searchParams.get('code') ?? '',
            code_verifier: code.verifier,
            client_id: clientId,
            redirect_uri: callbacks.redirectUri,
            resource,
          }),
        });
        expect(tokens.status).toBe(200);
        const pair = (await tokens.json()) as { access_token: string; refresh_token: string; scope: string };
        expect(pair.refresh_token).toEqual(expect.any(String));
        expect(pair.scope).toBe('mcp:tools');

        const client = new Client({ name: 'oauth-browser', version: '1' });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(resource), {
            requestInit: { headers: { Authorization: `Bearer ${pair.access_token}` } },
          }),
        );
        try {
          const names = (await client.listTools()).tools.map((tool) => tool.name);
          expect(names).toContain('search_products');
          expect(names).not.toContain('generate_code');
        } finally {
          await client.close();
        }
      } finally {
        await context.close();
      }
    });

    it('sends access_denied and the same state back when the user clicks Deny', async () => {
      const clientId = await registerClient();
      const state = randomBytes(12).toString('base64url');
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const consent = await signInThroughPage(page, authorizeUrl(clientId, pkce(), state));
        expect(consent.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
        const arrived = callbacks.next();
        await page.getByRole('button', { name: 'Deny' }).click();
        const back = await arrived;
        expect(back.searchParams.get('error')).toBe('access_denied');
        expect(back.searchParams.get('state')).toBe(state);
        expect(back.searchParams.get('code')).toBeNull();
      } finally {
        await context.close();
      }
    });
  },
);

/**
 * Runs inside the page: the tsconfig has no DOM library, so the element and window are typed loosely.
 */
function backgroundColor(element: unknown): string {
  const view = globalThis as unknown as { getComputedStyle(node: unknown): { backgroundColor: string } };
  return view.getComputedStyle(element).backgroundColor;
}
