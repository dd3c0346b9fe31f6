import { Body, Controller, Get, HttpCode, Module, Param, ParseIntPipe, Post, Query } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Length, Max, Min, ValidateNested } from 'class-validator';
import { Public } from '../../src/authz/route-access.decorators';
import { API_PREFIX } from '../../src/common/api-controller.decorator';
import { RequestContext } from '../../src/common/request-context';

class ProbeOwnerDto {
  @IsString()
  @Length(1, 20)
  name!: string;
}

class ProbeEchoDto {
  @IsString()
  @Length(1, 50)
  title!: string;

  @IsInt()
  @Min(1)
  @Max(10)
  count!: number;

  @IsOptional()
  @ValidateNested()
  @Type(() => ProbeOwnerDto)
  owner?: ProbeOwnerDto;
}

/** Test-only routes that exercise the request pipeline the way feature controllers will. */
@Public()
@Controller(`${API_PREFIX}/probe`)
class ProbeController {
  constructor(private readonly context: RequestContext) {}

  @Get('items/:id')
  item(@Param('id', ParseIntPipe) id: number): { id: number; requestId: string | undefined } {
    return { id, requestId: this.context.requestId };
  }

  @Post('echo')
  @HttpCode(200)
  echo(@Body() body: ProbeEchoDto): ProbeEchoDto {
    return body;
  }

  @Get('boom')
  boom(): never {
    throw new Error('SELECT password FROM users failed at /work/main/src/secret-file.ts:12');
  }

  @Get('slow')
  async slow(@Query('ms', ParseIntPipe) ms: number): Promise<{ waited: number }> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { waited: ms };
  }
}

@Module({ controllers: [ProbeController] })
export class ProbeModule {}
