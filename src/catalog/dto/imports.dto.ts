import { IsUUID } from 'class-validator';

export class ImportIdParam {
  @IsUUID()
  id!: string;
}
