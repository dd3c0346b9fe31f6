import { applyDecorators, Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

/** Every admin REST route lives under this prefix; ops, MCP, OAuth and docs routes do not. */
export const API_PREFIX = 'api/v1';

/** A controller of the admin REST API: `@ApiController('products')` serves `/api/v1/products`. */
export function ApiController(path: string, tag: string = path.split('/')[0]): ClassDecorator {
  return applyDecorators(Controller(`${API_PREFIX}/${path}`), ApiTags(tag));
}
