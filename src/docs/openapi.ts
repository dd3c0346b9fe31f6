import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** The OpenAPI document, generated from the controllers and DTOs of a created (not necessarily started) app. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('MCP Admin API')
    .setDescription(
      'Admin REST API of MCP Admin. Errors use the envelope `{ "error": { "code", "message", "details"?, "requestId" } }`; ' +
        'lists are `{ items, total, page, limit }` or `{ items, nextCursor }`.',
    )
    .setVersion('1')
    .addBearerAuth()
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Holds the document built at startup so that the docs routes can serve it. */
export class OpenApiDocumentHolder {
  private document: OpenAPIObject | undefined;

  set(document: OpenAPIObject): void {
    this.document = document;
  }

  get(): OpenAPIObject {
    if (this.document === undefined) throw new Error('The OpenAPI document has not been built');
    return this.document;
  }
}
