import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import { SystemInfoEntity } from './system-info.entity';

@Injectable()
export class SystemInfoRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  /** The id this installation was given by its first migration; it survives restarts and upgrades. */
  async instanceId(): Promise<string> {
    const row = await this.txHost.tx.getRepository(SystemInfoEntity).findOneByOrFail({ key: 'instance_id' });
    return String(row.value);
  }
}
