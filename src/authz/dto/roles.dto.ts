import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';

export class CreateRoleDto {
  @ApiProperty({ example: 'catalog-editor' })
  @Matches(/^[a-z][a-z0-9_-]{1,39}$/, {
    message: 'name must be 2-40 of a-z, 0-9, _ and -, starting with a letter',
  })
  name!: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(300)
  description?: string;

  @ApiProperty({ example: ['products:read', 'products:write'] })
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @Length(1, 64, { each: true })
  permissions!: string[];
}

export class UpdateRoleDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(300)
  description?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @Length(1, 64, { each: true })
  permissions?: string[];
}

export class RoleNameParam {
  @Matches(/^[a-z][a-z0-9_-]{1,39}$/, { message: 'name must be a role name' })
  name!: string;
}
