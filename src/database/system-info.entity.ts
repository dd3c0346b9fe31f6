import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Facts about this installation (its id, when it was created), one row per key. */
@Entity({ name: 'system_info' })
export class SystemInfoEntity {
  @PrimaryColumn({ type: 'text' })
  key!: string;

  @Column({ type: 'jsonb' })
  value!: unknown;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
