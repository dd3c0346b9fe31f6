import { Body, Delete, Get, HttpCode, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation } from '@nestjs/swagger';
import { AuditedManually } from '../audit/audited.decorator';
import { RequirePermissions } from '../authz/route-access.decorators';
import { PageQueryDto } from '../common/page-query.dto';
import { ApiController } from '../common/api-controller.decorator';
import { CreateUserDto, ResetPasswordDto, SetRolesDto, UpdateUserDto, UserIdParam } from './dto/users.dto';
import { type Page, type UserResponse, UsersService } from './users.service';

@ApiController('users')
@ApiBearerAuth()
@AuditedManually()
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @RequirePermissions('users:read')
  @ApiOperation({ summary: 'List users' })
  list(@Query() query: PageQueryDto): Promise<Page<UserResponse>> {
    return this.users.list(query.page, query.limit);
  }

  @Get(':id')
  @RequirePermissions('users:read')
  @ApiOperation({ summary: 'One user' })
  get(@Param() { id }: UserIdParam): Promise<UserResponse> {
    return this.users.get(id);
  }

  @Post()
  @RequirePermissions('users:write')
  @ApiOperation({ summary: 'Create a user' })
  create(@Body() body: CreateUserDto): Promise<UserResponse> {
    return this.users.create(body);
  }

  @Patch(':id')
  @RequirePermissions('users:write')
  @ApiOperation({ summary: 'Update a user' })
  update(@Param() { id }: UserIdParam, @Body() body: UpdateUserDto): Promise<UserResponse> {
    return this.users.update(id, body);
  }

  @Post(':id/disable')
  @RequirePermissions('users:write')
  @HttpCode(200)
  @ApiOperation({ summary: 'Disable a user: their sessions end and their API keys stop working' })
  disable(@Param() { id }: UserIdParam): Promise<UserResponse> {
    return this.users.disable(id);
  }

  @Post(':id/enable')
  @RequirePermissions('users:write')
  @HttpCode(200)
  @ApiOperation({ summary: 'Enable a disabled user' })
  enable(@Param() { id }: UserIdParam): Promise<UserResponse> {
    return this.users.enable(id);
  }

  @Post(':id/reset-password')
  @RequirePermissions('users:write')
  @HttpCode(200)
  @ApiOperation({ summary: 'Set a new password the user must change at next sign-in' })
  resetPassword(@Param() { id }: UserIdParam, @Body() body: ResetPasswordDto): Promise<UserResponse> {
    return this.users.resetPassword(id, body.newPassword);
  }

  @Post(':id/unlock')
  @RequirePermissions('users:write')
  @HttpCode(200)
  @ApiOperation({ summary: 'Lift a sign-in lock' })
  unlock(@Param() { id }: UserIdParam): Promise<UserResponse> {
    return this.users.unlock(id);
  }

  @Delete(':id/sessions')
  @RequirePermissions('users:write')
  @HttpCode(204)
  @ApiOperation({ summary: "End all of a user's sessions" })
  async revokeSessions(@Param() { id }: UserIdParam): Promise<void> {
    await this.users.revokeSessions(id);
  }

  @Put(':id/roles')
  @RequirePermissions('users:write')
  @ApiOperation({ summary: "Replace a user's roles" })
  setRoles(@Param() { id }: UserIdParam, @Body() body: SetRolesDto): Promise<UserResponse> {
    return this.users.setRoles(id, body.roles);
  }
}
