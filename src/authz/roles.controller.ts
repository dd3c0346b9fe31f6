import { Body, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuditedManually } from '../audit/audited.decorator';
import { API_PREFIX } from '../common/api-controller.decorator';
import { Controller } from '@nestjs/common';
import { CreateRoleDto, RoleNameParam, UpdateRoleDto } from './dto/roles.dto';
import { RequirePermissions } from './route-access.decorators';
import { type RoleResponse, RolesService } from './roles.service';

@Controller(API_PREFIX)
@ApiTags('roles')
@ApiBearerAuth()
@AuditedManually()
export class RolesController {
  constructor(private readonly roles: RolesService) {}

  @Get('permissions')
  @RequirePermissions('roles:read')
  @ApiOperation({ summary: 'The permission registry' })
  permissions(): Array<{ name: string; description: string }> {
    return this.roles.permissions();
  }

  @Get('roles')
  @RequirePermissions('roles:read')
  @ApiOperation({ summary: 'Built-in and custom roles' })
  list(): Promise<RoleResponse[]> {
    return this.roles.list();
  }

  @Get('roles/:name')
  @RequirePermissions('roles:read')
  @ApiOperation({ summary: 'One role' })
  get(@Param() { name }: RoleNameParam): Promise<RoleResponse> {
    return this.roles.get(name);
  }

  @Post('roles')
  @RequirePermissions('roles:write')
  @ApiOperation({ summary: 'Create a custom role' })
  create(@Body() body: CreateRoleDto): Promise<RoleResponse> {
    return this.roles.create(body.name, body.description ?? '', body.permissions);
  }

  @Patch('roles/:name')
  @RequirePermissions('roles:write')
  @ApiOperation({ summary: 'Change a custom role' })
  update(@Param() { name }: RoleNameParam, @Body() body: UpdateRoleDto): Promise<RoleResponse> {
    return this.roles.update(name, body);
  }

  @Delete('roles/:name')
  @RequirePermissions('roles:write')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a custom role that no user holds' })
  async delete(@Param() { name }: RoleNameParam): Promise<void> {
    await this.roles.delete(name);
  }
}
