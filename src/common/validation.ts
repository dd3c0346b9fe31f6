import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { BadRequestError, type ErrorDetail } from './app-error';

/** Flattens class-validator's tree into one detail per failed field, with dotted paths. */
export function validationDetails(errors: readonly ValidationError[], parent = ''): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const error of errors) {
    const field = parent === '' ? error.property : `${parent}.${error.property}`;
    for (const message of Object.values(error.constraints ?? {})) details.push({ field, issue: message });
    if (error.children && error.children.length > 0)
      details.push(...validationDetails(error.children, field));
  }
  return details;
}

export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) =>
      new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', validationDetails(errors)),
  });
}
