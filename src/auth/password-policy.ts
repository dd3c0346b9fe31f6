import { BadRequestError } from '../common/app-error';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './secrets';

/** Length is what makes a password strong (NIST SP 800-63B); composition rules are not imposed. */
export function checkPasswordPolicy(password: string, email: string, field: string): void {
  const problems: string[] = [];
  if (password.length < PASSWORD_MIN_LENGTH)
    problems.push(`must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (password.length > PASSWORD_MAX_LENGTH)
    problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters`);
  if (password.toLowerCase() === email.toLowerCase()) problems.push('must not be the email address');
  if (/^(.)\1*$/.test(password)) problems.push('must not be one repeated character');
  if (problems.length > 0) {
    throw new BadRequestError(
      'PASSWORD_TOO_WEAK',
      'The password does not meet the policy.',
      problems.map((issue) => ({ field, issue })),
    );
  }
}
