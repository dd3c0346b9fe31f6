import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsDate,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
} from 'class-validator';

export class CreateApiKeyDto {
  @ApiProperty({ example: 'ci-agent' })
  @IsString()
  @Length(1, 100)
  name!: string;

  @ApiProperty({ example: ['products:read'] })
  @IsArray()
  @ArrayMaxSize(64)
  @Matches(/^[a-z-]+:[a-z-]+$/, { each: true, message: 'each permission must be a permission name' })
  permissions!: string[];

  @ApiPropertyOptional({ format: 'date-time' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'expiresAt must be an ISO-8601 date-time' })
  expiresAt?: Date;
}

export class ListApiKeysQueryDto {
  @ApiPropertyOptional({ description: "Another user's keys (needs api-keys:admin)" })
  @IsOptional()
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId?: string;

  @ApiPropertyOptional({ description: "Every user's keys (needs api-keys:admin)" })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  all?: boolean;
}

export class KeyIdParam {
  @IsUUID('all', { message: 'id must be a UUID' })
  id!: string;
}
