import { AppError } from '../common/app-error';

/** The error codes of RFC 6749, 7591, 8707 and 7009 this server answers with. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'unsupported_token_type';

/**
 * An OAuth refusal: answered by the token, revocation and registration endpoints as
 * `{ "error": <oauthError>, "error_description": <message> }` (not the REST envelope), and by the
 * authorization endpoint as a redirect carrying the same two parameters.
 */
export class OAuthError extends AppError {
  readonly status: number;

  constructor(
    readonly oauthError: OAuthErrorCode,
    message: string,
    status = oauthError === 'invalid_client' ? 401 : 400,
  ) {
    super(`OAUTH_${oauthError.toUpperCase()}`, message);
    this.status = status;
  }
}
