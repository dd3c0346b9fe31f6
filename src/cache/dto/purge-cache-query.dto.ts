import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsUUID } from 'class-validator';

export class PurgeCacheQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: "Only this adapter's entries; omitted: every entry" })
  @IsOptional()
  @IsUUID()
  adapterId?: string;
}
