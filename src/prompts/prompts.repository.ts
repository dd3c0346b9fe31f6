import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { Injectable } from '@nestjs/common';
import type { PromptTask } from './prompt-tasks';

export interface PromptRow {
  id: string;
  name: string;
  task: PromptTask;
  systemText: string;
  userTemplate: string;
  version: number;
  active: boolean;
  author: string;
  createdAt: Date;
}

const PROMPT_COLUMNS = `p.id, p.name, p.task, p.system_text AS "systemText", p.user_template AS "userTemplate",
  p.version, p.active, p.author, p.created_at AS "createdAt"`;

/** Data access for prompt versions. Every query runs in the caller's transaction when there is one. */
@Injectable()
export class PromptsRepository {
  constructor(private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>) {}

  private query<T>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    return this.txHost.tx.query(sql, parameters);
  }

  async findActive(name: string): Promise<PromptRow | undefined> {
    const [row] = await this.query<PromptRow>(
      `SELECT ${PROMPT_COLUMNS} FROM prompts p WHERE p.name = $1 AND p.active`,
      [name],
    );
    return row;
  }

  async findVersion(name: string, version: number): Promise<PromptRow | undefined> {
    const [row] = await this.query<PromptRow>(
      `SELECT ${PROMPT_COLUMNS} FROM prompts p WHERE p.name = $1 AND p.version = $2`,
      [name, version],
    );
    return row;
  }

  async exists(name: string): Promise<boolean> {
    const rows = await this.query('SELECT 1 FROM prompts WHERE name = $1 LIMIT 1', [name]);
    return rows.length > 0;
  }

  /**
   * Locks every version of a name until the transaction ends, so that writers of the same name take
   * turns; rows are locked in version order so that two writers cannot deadlock. Answers the name's
   * task, or undefined when the name does not exist.
   *
   * A writer that waited here sees, in this statement, only the rows that existed when it started
   * waiting: read what the previous writer added (the next version number) in a later statement.
   */
  async lockName(name: string): Promise<PromptTask | undefined> {
    const rows = await this.query<{ task: PromptTask }>(
      'SELECT task FROM prompts WHERE name = $1 ORDER BY version FOR UPDATE',
      [name],
    );
    return rows[0]?.task;
  }

  async latestVersion(name: string): Promise<number> {
    const [row] = await this.query<{ version: number | null }>(
      'SELECT max(version) AS version FROM prompts WHERE name = $1',
      [name],
    );
    return row.version ?? 0;
  }

  async listActive(
    task: PromptTask | undefined,
    offset: number,
    limit: number,
  ): Promise<{ rows: PromptRow[]; total: number }> {
    const rows = await this.query<PromptRow & { total: number }>(
      `SELECT ${PROMPT_COLUMNS}, count(*) OVER ()::int AS total FROM prompts p
       WHERE p.active AND ($1::text IS NULL OR p.task = $1)
       ORDER BY p.name OFFSET $2 LIMIT $3`,
      [task ?? null, offset, limit],
    );
    const total =
      rows[0]?.total ??
      (
        await this.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM prompts WHERE active AND ($1::text IS NULL OR task = $1)',
          [task ?? null],
        )
      )[0].n;
    return { rows: rows.map(({ total: _total, ...row }) => row), total };
  }

  async listVersions(
    name: string,
    offset: number,
    limit: number,
  ): Promise<{ rows: PromptRow[]; total: number }> {
    const rows = await this.query<PromptRow & { total: number }>(
      `SELECT ${PROMPT_COLUMNS}, count(*) OVER ()::int AS total FROM prompts p
       WHERE p.name = $1 ORDER BY p.version DESC OFFSET $2 LIMIT $3`,
      [name, offset, limit],
    );
    const total =
      rows[0]?.total ??
      (await this.query<{ n: number }>('SELECT count(*)::int AS n FROM prompts WHERE name = $1', [name]))[0]
        .n;
    return { rows: rows.map(({ total: _total, ...row }) => row), total };
  }

  /** Undefined when (name, version), or an active version of the name when `active`, already exists. */
  async insert(prompt: {
    name: string;
    task: PromptTask;
    systemText: string;
    userTemplate: string;
    version: number;
    active: boolean;
    author: string;
  }): Promise<PromptRow | undefined> {
    const [row] = await this.query<PromptRow>(
      `INSERT INTO prompts AS p (name, task, system_text, user_template, version, active, author)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING ${PROMPT_COLUMNS}`,
      [
        prompt.name,
        prompt.task,
        prompt.systemText,
        prompt.userTemplate,
        prompt.version,
        prompt.active,
        prompt.author,
      ],
    );
    return row;
  }

  /** Leaves the name with no active version (the caller activates one in the same transaction). */
  async deactivate(name: string): Promise<void> {
    await this.query('UPDATE prompts SET active = false WHERE name = $1 AND active', [name]);
  }

  /**
   * Makes `version` the only active version. Two statements: the unique index on active rows is
   * checked row by row, so one UPDATE flipping both rows could see two active rows mid-statement.
   */
  async activate(name: string, version: number): Promise<void> {
    await this.query('UPDATE prompts SET active = false WHERE name = $1 AND active AND version <> $2', [
      name,
      version,
    ]);
    await this.query('UPDATE prompts SET active = true WHERE name = $1 AND version = $2 AND NOT active', [
      name,
      version,
    ]);
  }
}
