import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsEmail,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  MaxLength,
} from 'class-validator';

const ROLE_NAME = /^[a-z][a-z0-9_-]{1,39}$/;

export class CreateUserDto {
  @ApiProperty({ example: 'operator@example.com' })
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(254)
  email!: string;

  @ApiProperty({ minLength: 12 })
  @IsString()
  @Length(1, 256)
  password!: string;

  @ApiProperty()
  @IsString()
  @Length(1, 100)
  displayName!: string;

  @ApiProperty({ example: ['viewer'] })
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(ROLE_NAME, { each: true, message: 'each role must be a role name' })
  roles!: string[];
}

export class UpdateUserDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 100)
  displayName?: string;
}

export class ResetPasswordDto {
  @ApiProperty({ minLength: 12 })
  @IsString()
  @Length(1, 256)
  newPassword!: string;
}

export class SetRolesDto {
  @ApiProperty({ example: ['operator'] })
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(ROLE_NAME, { each: true, message: 'each role must be a role name' })
  roles!: string[];
}

export class UserIdParam {
  @IsUUID('all', { message: 'id must be a UUID' })
  id!: string;
}
