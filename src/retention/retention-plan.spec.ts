import { loadConfig } from '../config/load-config';
import { isEmptyPlan, retentionPlan } from './retention-plan';

const NOW = new Date('2026-06-30T03:30:00.000Z');

describe('retention settings', () => {
  it('keeps everything when CHANGES_ and PIPELINE_ITEMS_RETENTION_DAYS are unset', () => {
    const { retention } = loadConfig({});
    expect(retention.changesDays).toBeUndefined();
    expect(retention.pipelineItemsDays).toBeUndefined();
    expect(isEmptyPlan(retentionPlan(retention, NOW))).toBe(true);
  });

  it('parses the day counts and keeps pg-boss archives 7 days by default', () => {
    const { retention } = loadConfig({ CHANGES_RETENTION_DAYS: '90', PIPELINE_ITEMS_RETENTION_DAYS: '30' });
    expect(retention).toMatchObject({ changesDays: 90, pipelineItemsDays: 30, jobsArchiveDays: 7 });
    expect(loadConfig({ JOBS_ARCHIVE_RETENTION_DAYS: '30' }).retention.jobsArchiveDays).toBe(30);
  });

  it.each([
    ['CHANGES_RETENTION_DAYS', '0'],
    ['PIPELINE_ITEMS_RETENTION_DAYS', '1.5'],
    ['JOBS_ARCHIVE_RETENTION_DAYS', '0'],
    ['JOBS_ARCHIVE_RETENTION_DAYS', '366'],
    ['JOBS_ARCHIVE_RETENTION_DAYS', 'week'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });

  it('puts each cut-off the configured number of whole days before now', () => {
    const plan = retentionPlan({ changesDays: 90, jobsArchiveDays: 7 }, NOW);
    expect(plan.changes).toEqual({ days: 90, cutoff: new Date('2026-04-01T03:30:00.000Z') });
    expect(plan.pipelineItems).toBeUndefined();
    expect(isEmptyPlan(plan)).toBe(false);
    expect(retentionPlan({ pipelineItemsDays: 1, jobsArchiveDays: 7 }, NOW).pipelineItems).toEqual({
      days: 1,
      cutoff: new Date('2026-06-29T03:30:00.000Z'),
    });
  });
});
