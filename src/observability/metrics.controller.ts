import { Controller, Get, Header, Headers, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiExcludeController } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Public } from '../authz/route-access.decorators';
import { UnauthenticatedError } from '../common/app-error';
import { InjectConfig } from '../config/config.module';
import type { AppConfig } from '../config/app-config';
import { register } from 'prom-client';

/** Prometheus text. Open when METRICS_TOKEN is unset; otherwise `Authorization: Bearer <METRICS_TOKEN>`. */
@ApiExcludeController()
@Public()
@SkipThrottle()
@Controller()
export class MetricsController {
  private readonly tokenDigest: Buffer | undefined;

  constructor(@InjectConfig() config: AppConfig) {
    this.tokenDigest = config.metrics.token === undefined ? undefined : digest(config.metrics.token);
  }

  @Get()
  @Header('cache-control', 'no-store')
  async index(
    @Headers('authorization') authorization: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    if (this.tokenDigest !== undefined) {
      const presented = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1];
      if (presented === undefined || !timingSafeEqual(digest(presented), this.tokenDigest)) {
        throw new UnauthenticatedError(
          'METRICS_TOKEN_INVALID',
          'A valid metrics token is required.',
          undefined,
          {
            'www-authenticate': 'Bearer realm="metrics"',
          },
        );
      }
    }
    void reply.header('content-type', register.contentType);
    return register.metrics();
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
