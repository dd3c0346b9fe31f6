import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Throttle } from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Audited, AuditedManually } from '../audit/audited.decorator';
import { PERMISSIONS } from '../authz/permissions';
import { Public } from '../authz/route-access.decorators';
import { AppError } from '../common/app-error';
import { FORM_BODY } from '../common/form-body';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { OAuthClientsService } from './oauth-clients.service';
import { pageSecurityHeaders, renderConsentPage, renderErrorPage, renderLoginPage } from './oauth-pages';
import { describeScope } from './oauth-scopes';
import { type AuthorizationRequest, OAuthService, RedirectError, UnredirectableError } from './oauth.service';
import { SignedState } from './signed-state';

type Form = Record<string, string | undefined>;

const CSRF_COOKIE = 'mcp_admin_oauth_csrf';
/** How long the sign-in and consent pages stay usable. */
const PAGE_TTL_SECONDS = 600;
/** Sign-in attempts per client IP per minute on the page, on top of the per-account lock (as the API's). */
const SIGN_IN_LIMIT = { default: { limit: 30, ttl: 60_000 } };
/** Registrations per client IP per hour: anyone may register, nobody needs thousands. */
const REGISTER_LIMIT = { default: { limit: 30, ttl: 3_600_000 } };

/**
 * The OAuth endpoints and pages (outside /api/v1): registration, the authorization endpoint with its
 * sign-in and consent pages, the token and revocation endpoints. The pages are plain HTML forms with
 * a strict CSP of their own, a CSRF token (double submit: cookie and form field) and no framing.
 */
@Controller('oauth')
@ApiTags('oauth')
@Public()
export class OAuthController {
  constructor(
    private readonly oauth: OAuthService,
    private readonly clients: OAuthClientsService,
    private readonly state: SignedState,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  @Post('register')
  @HttpCode(201)
  @Throttle(REGISTER_LIMIT)
  @Audited({
    action: 'oauth.client_register',
    resourceType: 'oauth_client',
    resourceId: (result) => (result as { client_id?: string } | undefined)?.client_id,
  })
  @ApiOperation({
    summary: 'Dynamic client registration (RFC 7591): public clients, loopback or https redirect URIs',
  })
  register(@Body() body: unknown) {
    return this.clients.register(body);
  }

  @Get('authorize')
  @ApiOperation({ summary: 'Authorization endpoint: code flow with PKCE S256; shows the sign-in page' })
  async authorize(@Query() query: Form, @Res() reply: FastifyReply): Promise<void> {
    let found;
    try {
      found = await this.oauth.authorizationRequest(query);
    } catch (error) {
      return this.refuse(reply, error);
    }
    const csrf = randomBytes(24).toString('base64url');
    this.setCsrfCookie(reply, csrf);
    this.page(
      reply,
      200,
      [found.request.redirectUri],
      renderLoginPage({
        ...this.describe(found.client.clientName, found.request),
        action: '/oauth/authorize',
        hiddenFields: { csrf, request: this.state.sign('request', found.request, PAGE_TTL_SECONDS) },
      }),
    );
  }

  @Post('authorize')
  @RouteConfig({ [FORM_BODY]: true })
  @Throttle(SIGN_IN_LIMIT)
  @AuditedManually()
  @ApiOperation({ summary: 'Sign-in form of the authorization page (form post); shows the consent page' })
  async signIn(
    @Body() form: Form,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const authorization = this.checkForm(request, form, reply);
    if (authorization === undefined) return;
    let clientName: string;
    try {
      ({ clientName } = await this.clients.resolve(authorization.clientId));
    } catch (error) {
      return this.refuse(reply, new UnredirectableError((error as Error).message));
    }
    const hidden = { csrf: form.csrf ?? '', request: form.request ?? '' };
    try {
      const { user, scopes } = await this.oauth.signIn(form.email ?? '', form.password ?? '', authorization);
      this.page(
        reply,
        200,
        [authorization.redirectUri],
        renderConsentPage({
          ...this.describe(clientName, { ...authorization, scopes }),
          userEmail: user.email,
          action: '/oauth/consent',
          hiddenFields: {
            ...hidden,
            ticket: this.state.sign(
              'consent',
              { userId: user.id, scopes, request: form.request },
              PAGE_TTL_SECONDS,
            ),
          },
        }),
      );
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      for (const [name, value] of Object.entries(error.headers ?? {})) void reply.header(name, value);
      this.page(
        reply,
        error.status,
        [authorization.redirectUri],
        renderLoginPage({
          ...this.describe(clientName, authorization),
          action: '/oauth/authorize',
          hiddenFields: hidden,
          email: form.email?.slice(0, 254),
          error: error.message,
        }),
      );
    }
  }

  @Post('consent')
  @RouteConfig({ [FORM_BODY]: true })
  @AuditedManually()
  @ApiOperation({ summary: 'Consent form (form post): approve or deny; redirects back to the client' })
  async consent(
    @Body() form: Form,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const authorization = this.checkForm(request, form, reply);
    if (authorization === undefined) return;
    const ticket = this.state.verify<{ userId: string; scopes: string[]; request: string }>(
      'consent',
      form.ticket,
    );
    if (ticket === undefined || ticket.request !== form.request) {
      return this.errorPage(
        reply,
        400,
        'Sign in again',
        'This page has expired. Start again from the application.',
      );
    }
    const location =
      form.decision === 'approve'
        ? await this.oauth.approve(ticket.userId, authorization, ticket.scopes)
        : await this.oauth.deny(ticket.userId, authorization);
    this.clearCsrfCookie(reply);
    void reply.status(302).header('location', location).header('cache-control', 'no-store').send();
  }

  @Post('token')
  @RouteConfig({ [FORM_BODY]: true })
  @HttpCode(200)
  @AuditedManually()
  @ApiOperation({
    summary: 'Token endpoint: authorization_code (with code_verifier) and refresh_token grants',
  })
  async token(@Body() form: Form, @Res({ passthrough: true }) reply: FastifyReply) {
    void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return this.oauth.token(form ?? {});
  }

  @Post('revoke')
  @RouteConfig({ [FORM_BODY]: true })
  @HttpCode(200)
  @AuditedManually()
  @ApiOperation({ summary: 'Token revocation (RFC 7009): a refresh or access token ends its grant' })
  async revoke(@Body() form: Form): Promise<Record<string, never>> {
    await this.oauth.revoke(form ?? {});
    return {};
  }

  /** The CSRF token and the signed request of a form post; answers with an error page and undefined when they fail. */
  private checkForm(
    request: FastifyRequest,
    form: Form | undefined,
    reply: FastifyReply,
  ): AuthorizationRequest | undefined {
    const cookie = cookieValue(request.headers.cookie, CSRF_COOKIE);
    const field = form?.csrf;
    if (cookie === undefined || field === undefined || !sameSecret(cookie, field)) {
      this.errorPage(
        reply,
        403,
        'Request refused',
        'The form could not be verified (CSRF). Start again from the application.',
      );
      return undefined;
    }
    const authorization = this.state.verify<AuthorizationRequest>('request', form?.request);
    if (authorization === undefined) {
      this.errorPage(reply, 400, 'Sign in again', 'This page has expired. Start again from the application.');
      return undefined;
    }
    return authorization;
  }

  private describe(clientName: string, request: AuthorizationRequest) {
    return {
      clientName,
      clientId: request.clientId,
      redirectHost: new URL(request.redirectUri).host,
      scopes: request.scopes.map((name) => ({ name, description: describeScope(name, PERMISSIONS) })),
    };
  }

  private refuse(reply: FastifyReply, error: unknown): void {
    if (error instanceof RedirectError) {
      void reply.status(302).header('location', error.location).header('cache-control', 'no-store').send();
      return;
    }
    if (error instanceof UnredirectableError) {
      this.errorPage(reply, 400, 'This application cannot sign in', error.message);
      return;
    }
    throw error;
  }

  private errorPage(reply: FastifyReply, status: number, title: string, message: string): void {
    this.page(reply, status, [], renderErrorPage({ title, message }));
  }

  private page(reply: FastifyReply, status: number, formTargets: string[], html: string): void {
    for (const [name, value] of Object.entries(pageSecurityHeaders(formTargets)))
      void reply.header(name, value);
    void reply.status(status).send(html);
  }

  private setCsrfCookie(reply: FastifyReply, value: string): void {
    const secure = this.config.http.publicBaseUrl.startsWith('https://') ? '; Secure' : '';
    void reply.header(
      'set-cookie',
      `${CSRF_COOKIE}=${value}; Path=/oauth; HttpOnly; SameSite=Strict; Max-Age=${PAGE_TTL_SECONDS}${secure}`,
    );
  }

  private clearCsrfCookie(reply: FastifyReply): void {
    void reply.header('set-cookie', `${CSRF_COOKIE}=; Path=/oauth; HttpOnly; SameSite=Strict; Max-Age=0`);
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && left.length >= 16 && timingSafeEqual(left, right);
}
