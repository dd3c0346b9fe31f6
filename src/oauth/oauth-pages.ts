import { createHash } from 'node:crypto';
import { BadRequestError } from '../common/app-error';

/**
 * Server-rendered pages of the OAuth authorization server: login, consent and the error page shown
 * when a request cannot be sent back to its client. No JavaScript and no third-party assets, so the
 * pages run under a CSP that admits only the one inline style block below (pinned by its hash).
 */

export interface ScopeView {
  name: string;
  description: string;
}

export interface LoginPageInput {
  clientName: string;
  clientId: string;
  redirectHost: string;
  scopes: ScopeView[];
  action: string;
  hiddenFields: Record<string, string>;
  email?: string;
  error?: string;
}

export interface ConsentPageInput {
  clientName: string;
  clientId: string;
  redirectHost: string;
  scopes: ScopeView[];
  userEmail: string;
  action: string;
  hiddenFields: Record<string, string>;
}

export interface ErrorPageInput {
  title: string;
  message: string;
}

// Colours are chosen for WCAG AA contrast on their backgrounds (body text ~15:1, muted ~7:1, the
// white-on-blue button ~6.7:1, the error text ~6:1); focus gets a thick outline that never relies on colour alone.
const PAGE_CSS = `
*,*::before,*::after{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:100%;line-height:1.5;color:#111827;background:#f3f4f6}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:1rem}
main{width:100%;max-width:28rem;background:#fff;border:1px solid #d1d5db;border-radius:.75rem;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.375rem;line-height:1.3;margin:0 0 1rem}
h2{font-size:1rem;margin:1.25rem 0 .5rem}
p{margin:0 0 .75rem}
.muted{color:#4b5563;font-size:.875rem}
.client-id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.error{color:#991b1b;background:#fef2f2;border:1px solid #fca5a5;border-radius:.5rem;padding:.75rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=email],input[type=password]{display:block;width:100%;font:inherit;padding:.625rem .75rem;color:#111827;background:#fff;border:1px solid #6b7280;border-radius:.5rem}
input[aria-invalid=true]{border-color:#991b1b}
ul.scopes{list-style:none;margin:0 0 1rem;padding:0;border:1px solid #e5e7eb;border-radius:.5rem}
ul.scopes li{padding:.625rem .75rem;border-top:1px solid #e5e7eb}
ul.scopes li:first-child{border-top:0}
.scope-name{display:block;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem;font-weight:600}
.actions{display:flex;gap:.75rem;margin-top:1.5rem}
button{flex:1;font:inherit;font-weight:600;padding:.625rem 1rem;border-radius:.5rem;border:1px solid #1d4ed8;cursor:pointer}
button.primary{color:#fff;background:#1d4ed8}
button.primary:hover{background:#1e40af}
button.secondary{color:#1d4ed8;background:#fff}
button.secondary:hover{background:#eff6ff}
:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
input:focus-visible{outline-offset:1px}
`;

const STYLE_HASH = `sha256-${createHash('sha256').update(PAGE_CSS, 'utf8').digest('base64')}`;

// Schemes a form must never be allowed to post to, whatever a caller passes in.
const REFUSED_FORM_SCHEMES = new Set(['javascript:', 'data:', 'blob:', 'file:', 'filesystem:', 'about:']);

// A DNS name (already punycoded by the URL parser) or a bracketed IPv6 literal.
const CSP_SAFE_HOSTNAME = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?|\[[0-9a-f:.]+\])$/;

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and for quoted attribute values alike. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]);
}

export function renderLoginPage(input: LoginPageInput): string {
  const errorId = 'login-error';
  const invalid = input.error === undefined ? '' : ` aria-invalid="true" aria-describedby="${errorId}"`;
  const body = [
    '<h1>Sign in to MCP Admin</h1>',
    `<p><strong>${escapeHtml(input.clientName)}</strong> wants to access MCP Admin.</p>`,
    renderClientFinePrint(input.clientId, input.redirectHost),
    input.error === undefined
      ? ''
      : `<p id="${errorId}" class="error" role="alert">${escapeHtml(input.error)}</p>`,
    `<form method="post" action="${escapeHtml(input.action)}">`,
    renderHiddenFields(input.hiddenFields),
    '<label for="email">Email</label>',
    `<input id="email" name="email" type="email" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${escapeHtml(input.email ?? '')}"${invalid}>`,
    '<label for="password">Password</label>',
    `<input id="password" name="password" type="password" autocomplete="current-password" required${invalid}>`,
    '<div class="actions"><button type="submit" class="primary">Sign in</button></div>',
    '</form>',
    renderScopeSummary(input.scopes),
  ];
  return renderDocument('Sign in to MCP Admin', body);
}

export function renderConsentPage(input: ConsentPageInput): string {
  const title = `Authorize ${input.clientName}`;
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p><strong>${escapeHtml(input.clientName)}</strong> wants to access MCP Admin on your behalf.</p>`,
    `<p class="muted">Client ID: <span class="client-id">${escapeHtml(input.clientId)}</span></p>`,
    '<h2 id="scopes-heading">It is asking for</h2>',
    renderScopeList(input.scopes),
    `<p>After you choose, you will be sent back to <strong>${escapeHtml(input.redirectHost)}</strong>.</p>`,
    `<p class="muted">Signed in as <strong>${escapeHtml(input.userEmail)}</strong>.</p>`,
    `<form method="post" action="${escapeHtml(input.action)}">`,
    renderHiddenFields(input.hiddenFields),
    '<div class="actions">',
    '<button type="submit" name="decision" value="deny" class="secondary">Deny</button>',
    '<button type="submit" name="decision" value="approve" class="primary">Allow</button>',
    '</div>',
    '</form>',
  ];
  return renderDocument(title, body);
}

export function renderErrorPage(input: ErrorPageInput): string {
  const body = [
    `<h1>${escapeHtml(input.title)}</h1>`,
    `<p>${escapeHtml(input.message)}</p>`,
    '<p class="muted">You can close this window and try again from the application.</p>',
  ];
  return renderDocument(input.title, body);
}

/**
 * Headers for every page response. `formActionOrigins` must include the client's redirect origin:
 * Chromium applies form-action to the redirect that follows the consent POST, so without it the
 * browser would refuse to hand the authorization code back. Each entry may be an origin or a full
 * URI; a custom-scheme redirect (`cursor://...`) is admitted by its scheme.
 */
export function pageSecurityHeaders(formActionOrigins: string[]): Record<string, string> {
  const formAction = ["'self'", ...new Set(formActionOrigins.map(toFormActionSource))].join(' ');
  const csp = [
    "default-src 'none'",
    `style-src '${STYLE_HASH}'`,
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "img-src 'none'",
  ].join('; ');
  return {
    'content-security-policy': csp,
    'x-frame-options': 'DENY',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'content-type': 'text/html; charset=utf-8',
  };
}

/**
 * Re-serialises the value through the URL parser so that nothing a caller passes can smuggle extra
 * CSP directives (a `;`, a space, a wildcard) into the header.
 */
function toFormActionSource(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidFormAction(value);
  }
  if (REFUSED_FORM_SCHEMES.has(url.protocol)) throw invalidFormAction(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return url.protocol;
  // The URL parser lets `;`, `,`, `'` and `*` through in host names, and each means something in CSP.
  if (!CSP_SAFE_HOSTNAME.test(url.hostname)) throw invalidFormAction(value);
  return url.origin;
}

function invalidFormAction(value: string): BadRequestError {
  return new BadRequestError('INVALID_REDIRECT_URI', 'The redirect URI cannot be used as a form target.', [
    { field: 'redirect_uri', issue: `not an admissible origin: ${value.slice(0, 200)}` },
  ]);
}

function renderDocument(title: string, body: string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex, nofollow">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${PAGE_CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    ...body.filter((part) => part !== ''),
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function renderHiddenFields(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n');
}

function renderClientFinePrint(clientId: string, redirectHost: string): string {
  return (
    `<p class="muted">Client ID: <span class="client-id">${escapeHtml(clientId)}</span>` +
    ` · returns to <strong>${escapeHtml(redirectHost)}</strong></p>`
  );
}

function renderScopeList(scopes: ScopeView[]): string {
  if (scopes.length === 0) return '<p>No particular scopes were requested.</p>';
  const items = scopes.map(
    (scope) =>
      `<li><span class="scope-name">${escapeHtml(scope.name)}</span>${escapeHtml(scope.description)}</li>`,
  );
  return ['<ul class="scopes" aria-labelledby="scopes-heading">', ...items, '</ul>'].join('\n');
}

// The login page names the scopes briefly; the consent page that follows describes each one.
function renderScopeSummary(scopes: ScopeView[]): string {
  if (scopes.length === 0) return '';
  const names = scopes.map((scope) => escapeHtml(scope.name)).join(', ');
  return `<p class="muted">After you sign in, you will be asked to allow: ${names}.</p>`;
}
