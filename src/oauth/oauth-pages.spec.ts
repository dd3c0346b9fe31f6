import { createHash } from 'node:crypto';
import {
  escapeHtml,
  pageSecurityHeaders,
  renderConsentPage,
  renderErrorPage,
  renderLoginPage,
  type ScopeView,
} from './oauth-pages';

const HOSTILE = '"><script>alert(1)</script>';

const SCOPES: ScopeView[] = [
  { name: 'products:read', description: 'Read the product catalogue.' },
  { name: 'changes:propose', description: 'Propose edits for review.' },
];

const HIDDEN = { csrf_token: 'csrf-abc', request: 'eyJhbGciOi.signed.request' };

function loginPage(overrides: Partial<Parameters<typeof renderLoginPage>[0]> = {}): string {
  return renderLoginPage({
    clientName: 'Claude Desktop',
    clientId: 'client-123',
    redirectHost: 'localhost:6274',
    scopes: SCOPES,
    action: '/oauth/authorize/login',
    hiddenFields: HIDDEN,
    ...overrides,
  });
}

function consentPage(overrides: Partial<Parameters<typeof renderConsentPage>[0]> = {}): string {
  return renderConsentPage({
    clientName: 'Claude Desktop',
    clientId: 'client-123',
    redirectHost: 'localhost:6274',
    scopes: SCOPES,
    userEmail: 'ada@example.com',
    action: '/oauth/authorize/consent',
    hiddenFields: HIDDEN,
    ...overrides,
  });
}

function errorPage(): string {
  return renderErrorPage({ title: 'Unknown client', message: 'This application is not registered.' });
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };

function decode(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ENTITIES[name]);
}

/**
 * The attributes of every `<name ...>` start tag, decoded. A regex scan is sound here because the
 * renderer escapes `>` and `"` inside attribute values, so neither can end a tag or a value early.
 */
function tags(html: string, name: string): Record<string, string>[] {
  const found: Record<string, string>[] = [];
  for (const match of html.matchAll(new RegExp(`<${name}\\b([^>]*)>`, 'g'))) {
    const attributes: Record<string, string> = {};
    for (const attr of match[1].matchAll(/([a-zA-Z][\w:-]*)(?:="([^"]*)")?/g)) {
      attributes[attr[1]] = decode(attr[2] ?? '');
    }
    found.push(attributes);
  }
  return found;
}

function hiddenFieldsOf(html: string): Record<string, string> {
  return Object.fromEntries(
    tags(html, 'input')
      .filter((input) => input.type === 'hidden')
      .map((input) => [input.name, input.value]),
  );
}

function styleBlocks(html: string): string[] {
  return [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((match) => match[1]);
}

function cspDirectives(csp: string): Map<string, string> {
  return new Map(
    csp.split(';').map((part) => {
      const [name, ...values] = part.trim().split(/\s+/);
      return [name, values.join(' ')];
    }),
  );
}

describe('escapeHtml', () => {
  it('escapes every character that can break out of text or a quoted attribute', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });
});

describe('renderLoginPage', () => {
  it('escapes a hostile client name, client id, host, scope and email', () => {
    const html = loginPage({
      clientName: HOSTILE,
      clientId: HOSTILE,
      redirectHost: HOSTILE,
      scopes: [{ name: HOSTILE, description: HOSTILE }],
      email: HOSTILE,
      error: HOSTILE,
      action: HOSTILE,
    });
    expect(html).not.toContain('<script');
    expect(html).toContain(
      '<strong>&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</strong> wants to access',
    );
    const [email] = tags(html, 'input').filter((input) => input.id === 'email');
    expect(email.value).toBe(HOSTILE);
    expect(tags(html, 'form')[0].action).toBe(HOSTILE);
  });

  it('carries every hidden field, hostile names and values included, exactly', () => {
    const hidden = { ...HIDDEN, [HOSTILE]: HOSTILE, state: `a&b'c` };
    const html = loginPage({ hiddenFields: hidden });
    expect(html).not.toContain('<script');
    expect(hiddenFieldsOf(html)).toEqual(hidden);
  });

  it('posts the credentials to the given action with the right field types and autocomplete hints', () => {
    const html = loginPage();
    expect(tags(html, 'form')).toEqual([{ method: 'post', action: '/oauth/authorize/login' }]);
    const inputs = tags(html, 'input').filter((input) => input.type !== 'hidden');
    expect(inputs).toEqual([
      expect.objectContaining({ id: 'email', name: 'email', type: 'email', autocomplete: 'username' }),
      expect.objectContaining({
        id: 'password',
        name: 'password',
        type: 'password',
        autocomplete: 'current-password',
      }),
    ]);
    expect(inputs[1]).not.toHaveProperty('value');
    expect(html).toMatch(/<button type="submit"[^>]*>Sign in<\/button>/);
    expect(html).toContain('<strong>Claude Desktop</strong> wants to access MCP Admin');
    expect(html).toContain('<title>Sign in to MCP Admin</title>');
    expect(html).toContain('<h1>Sign in to MCP Admin</h1>');
  });

  it('ties a label to every visible input', () => {
    const html = loginPage();
    const labels = tags(html, 'label').map((label) => label.for);
    const visible = tags(html, 'input').filter((input) => input.type !== 'hidden');
    expect(visible.length).toBeGreaterThan(0);
    for (const input of visible) expect(labels).toContain(input.id);
    for (const target of labels) expect(visible.filter((input) => input.id === target)).toHaveLength(1);
  });

  it('announces an error and links it to the fields it concerns', () => {
    const html = loginPage({ email: 'ada@example.com', error: 'Wrong email or password.' });
    const alerts = tags(html, 'p').filter((p) => p.role === 'alert');
    expect(alerts).toHaveLength(1);
    expect(alerts[0].id).toBeTruthy();
    expect(html).toContain('role="alert">Wrong email or password.</p>');
    const visible = tags(html, 'input').filter((input) => input.type !== 'hidden');
    for (const input of visible) {
      expect(input['aria-describedby']).toBe(alerts[0].id);
      expect(input['aria-invalid']).toBe('true');
    }
    expect(visible.find((input) => input.id === 'email')?.value).toBe('ada@example.com');
  });

  it('has no alert and no invalid marking without an error', () => {
    const html = loginPage();
    expect(html).not.toContain('role="alert"');
    for (const input of tags(html, 'input')) {
      expect(input).not.toHaveProperty('aria-describedby');
      expect(input).not.toHaveProperty('aria-invalid');
    }
  });
});

describe('renderConsentPage', () => {
  it('names the client, its id, the redirect host, each scope with its description and the user', () => {
    const html = consentPage();
    expect(html).toContain('<title>Authorize Claude Desktop</title>');
    expect(html).toContain('<h1>Authorize Claude Desktop</h1>');
    expect(html).toContain('client-123');
    expect(html).toContain('<strong>localhost:6274</strong>');
    expect(html).toContain('<strong>ada@example.com</strong>');
    for (const scope of SCOPES) {
      expect(html).toMatch(new RegExp(`<li>[^<]*<span[^>]*>${scope.name}</span>${scope.description}</li>`));
    }
  });

  it('offers approve and deny as two submit buttons of one form carrying the hidden fields', () => {
    const html = consentPage();
    const forms = [...html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/g)];
    expect(forms).toHaveLength(1);
    expect(tags(html, 'form')).toEqual([{ method: 'post', action: '/oauth/authorize/consent' }]);
    const inner = forms[0][1];
    expect(tags(inner, 'button')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'submit', name: 'decision', value: 'approve' }),
        expect.objectContaining({ type: 'submit', name: 'decision', value: 'deny' }),
      ]),
    );
    expect(tags(inner, 'button')).toHaveLength(2);
    expect(inner).toMatch(/value="approve"[^>]*>Allow<\/button>/);
    expect(inner).toMatch(/value="deny"[^>]*>Deny<\/button>/);
    expect(hiddenFieldsOf(inner)).toEqual(HIDDEN);
  });

  it('escapes every hostile value', () => {
    const hidden = { [HOSTILE]: HOSTILE };
    const html = consentPage({
      clientName: HOSTILE,
      clientId: HOSTILE,
      redirectHost: HOSTILE,
      userEmail: HOSTILE,
      scopes: [{ name: HOSTILE, description: HOSTILE }],
      hiddenFields: hidden,
    });
    expect(html).not.toContain('<script');
    expect(html).toContain('<title>Authorize &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>');
    expect(hiddenFieldsOf(html)).toEqual(hidden);
  });

  it('says so when no scopes are requested', () => {
    expect(consentPage({ scopes: [] })).toContain('No particular scopes were requested.');
  });
});

describe('renderErrorPage', () => {
  it('shows the title and message, escaped, with no form', () => {
    const html = renderErrorPage({ title: HOSTILE, message: `${HOSTILE} & more` });
    expect(html).not.toContain('<script');
    expect(html).toContain('<h1>&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</h1>');
    expect(html).toContain('&amp; more');
    expect(html).not.toContain('<form');
  });
});

describe.each([
  ['login', () => loginPage({ error: 'Wrong email or password.' })],
  ['consent', () => consentPage()],
  ['error', errorPage],
])('the %s page', (_, render) => {
  it('is an accessible document without scripts or outside assets', () => {
    const html = render();
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('<meta charset="utf-8">');
    expect(html.match(/<h1>/g)).toHaveLength(1);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/<(link|img|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/\s(src|href|on\w+)=/i);
    expect(html).not.toMatch(/url\(|@import/i);
  });

  it('embeds exactly the one style block whose hash the CSP names', () => {
    const html = render();
    const blocks = styleBlocks(html);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toContain(':focus-visible');
    expect(html).not.toMatch(/\sstyle=/i);
    const hash = createHash('sha256').update(blocks[0], 'utf8').digest('base64');
    const csp = cspDirectives(pageSecurityHeaders([])['content-security-policy']);
    expect(csp.get('style-src')).toBe(`'sha256-${hash}'`);
  });
});

describe('pageSecurityHeaders', () => {
  it('sets the strict policy and the no-store, no-frame, no-referrer headers', () => {
    const headers = pageSecurityHeaders(['http://localhost:6274']);
    expect(headers).toEqual({
      'content-security-policy': expect.any(String),
      'x-frame-options': 'DENY',
      'cache-control': 'no-store',
      pragma: 'no-cache',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'content-type': 'text/html; charset=utf-8',
    });
    const csp = cspDirectives(headers['content-security-policy']);
    expect([...csp.keys()]).toEqual([
      'default-src',
      'style-src',
      'form-action',
      'frame-ancestors',
      'base-uri',
      'img-src',
    ]);
    expect(csp.get('default-src')).toBe("'none'");
    expect(csp.get('style-src')).toMatch(/^'sha256-[A-Za-z0-9+/]{43}='$/);
    expect(csp.get('form-action')).toBe("'self' http://localhost:6274");
    expect(csp.get('frame-ancestors')).toBe("'none'");
    expect(csp.get('base-uri')).toBe("'none'");
    expect(csp.get('img-src')).toBe("'none'");
  });

  it('admits redirect origins by origin, custom schemes by scheme, each once', () => {
    const csp = cspDirectives(
      pageSecurityHeaders([
        'https://app.example.com/callback?x=1',
        'https://app.example.com',
        'cursor://anysphere.cursor-retrieval/oauth/callback',
      ])['content-security-policy'],
    );
    expect(csp.get('form-action')).toBe("'self' https://app.example.com cursor:");
  });

  it('allows only self when no redirect origin is given', () => {
    const csp = cspDirectives(pageSecurityHeaders([])['content-security-policy']);
    expect(csp.get('form-action')).toBe("'self'");
  });

  it.each([
    ["https://a.example.com; script-src 'unsafe-inline'"],
    ['https://a.example.com *'],
    ['https://a.example.com;sandbox/cb'],
    ["https://a'b.example.com"],
    ['https://*.example.com'],
    ['not a url'],
    ['javascript:alert(1)'],
    ['data:text/html,hi'],
  ])('refuses %s as a form target', (value) => {
    expect(() => pageSecurityHeaders([value])).toThrow(
      expect.objectContaining({ code: 'INVALID_REDIRECT_URI', status: 400 }),
    );
  });
});
