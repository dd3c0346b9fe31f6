import { Body, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation } from '@nestjs/swagger';
import { AuditedManually } from '../audit/audited.decorator';
import { Authenticated } from '../authz/route-access.decorators';
import { ApiController } from '../common/api-controller.decorator';
import type { Principal } from '../common/request-context';
import { type ApiKeyResponse, ApiKeysService, type CreatedApiKey } from './api-keys.service';
import { CurrentPrincipal } from './current-principal.decorator';
import { CreateApiKeyDto, KeyIdParam, ListApiKeysQueryDto } from './dto/api-keys.dto';

/** Own keys need only authentication; other users' keys need api-keys:admin (checked in the service). */
@ApiController('api-keys')
@ApiBearerAuth()
@AuditedManually()
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @Authenticated()
  @ApiOperation({ summary: 'Create an API key (shown once) with permissions you hold' })
  create(@CurrentPrincipal() principal: Principal, @Body() body: CreateApiKeyDto): Promise<CreatedApiKey> {
    return this.keys.create(principal, body.name, body.permissions, body.expiresAt);
  }

  @Get()
  @Authenticated()
  @ApiOperation({ summary: 'Your API keys; with api-keys:admin, ?userId= or ?all=true' })
  list(
    @CurrentPrincipal() principal: Principal,
    @Query() query: ListApiKeysQueryDto,
  ): Promise<ApiKeyResponse[]> {
    return this.keys.list(principal, query);
  }

  @Delete(':id')
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key' })
  async revoke(@CurrentPrincipal() principal: Principal, @Param() { id }: KeyIdParam): Promise<void> {
    await this.keys.revoke(principal, id);
  }
}
