import { ApiProperty } from '@nestjs/swagger';
import { IsString, IsUUID, Matches } from 'class-validator';
import { MODEL_NAME_PATTERN } from '../model-routes';

const MODEL_NAME_MESSAGE = `must be a model name matching ${MODEL_NAME_PATTERN.source}`;

export class PullModelDto {
  @ApiProperty({ example: 'llama3.1:8b', pattern: MODEL_NAME_PATTERN.source })
  @IsString()
  @Matches(MODEL_NAME_PATTERN, { message: `model ${MODEL_NAME_MESSAGE}` })
  model!: string;
}

/** `:name` arrives percent-decoded, so `hf.co%2Forg%2Fmodel:Q4` is `hf.co/org/model:Q4`. */
export class ModelNameParam {
  @ApiProperty({ example: 'llama3.1:8b', description: 'Percent-encode `/` in names (hf.co%2Forg%2Fmodel)' })
  @IsString()
  @Matches(MODEL_NAME_PATTERN, { message: `name ${MODEL_NAME_MESSAGE}` })
  name!: string;
}

export class PullIdParam {
  @IsUUID()
  id!: string;
}
