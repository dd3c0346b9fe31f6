import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsOptional, IsString, MaxLength } from 'class-validator';

export class ToolNameParam {
  @ApiProperty({ example: 'search_products' })
  @IsString()
  @MaxLength(200)
  name!: string;
}

export class ExecuteToolDto {
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: "The tool's arguments, as its inputSchema describes (unknown properties are refused)",
  })
  @IsOptional()
  @IsObject()
  arguments?: Record<string, unknown>;
}
