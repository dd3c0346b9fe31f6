import { Test } from '@nestjs/testing';
import { register } from 'prom-client';
import {
  BoundedLabel,
  MAX_ADAPTER_LABELS,
  MAX_ADAPTER_OUTCOME_LABELS,
  MAX_LLM_MODEL_LABELS,
  METRIC_PROVIDERS,
  MetricsService,
} from './metrics.service';

/** The series prom-client holds for a metric (for a histogram: its _count series). */
async function seriesOf(name: string, suffix = ''): Promise<Array<Record<string, string | number>>> {
  const metric = register.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) => {
      // Histograms answer _bucket, _sum and _count samples; counters and gauges answer no metricName.
      const metricName = (v as { metricName?: string }).metricName;
      return metricName === undefined || metricName === name + suffix;
    })
    .map((v) => v.labels as Record<string, string | number>);
}

describe('MetricsService', () => {
  let metrics: MetricsService;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      providers: [...METRIC_PROVIDERS, MetricsService],
    }).compile();
    metrics = moduleRef.get(MetricsService);
  });

  afterEach(() => register.resetMetrics());

  it('keeps a flood of adapter ids to a bounded number of series', async () => {
    for (let i = 0; i < MAX_ADAPTER_LABELS * 5; i++) {
      metrics.observeAdapterRequest(`adapter-${i}`, 'rest', 'success', 0.01);
    }
    const counted = await seriesOf('adapter_requests_total');
    expect(counted).toHaveLength(MAX_ADAPTER_LABELS + 1);
    expect(counted.filter((labels) => labels.adapter === 'other')).toHaveLength(1);
    const timed = await seriesOf('adapter_request_duration_seconds', '_count');
    expect(timed).toHaveLength(MAX_ADAPTER_LABELS + 1);
    // An adapter seen before the cap keeps its own series.
    metrics.observeAdapterRequest('adapter-0', 'rest', 'success', 0.01);
    expect(await seriesOf('adapter_requests_total')).toHaveLength(MAX_ADAPTER_LABELS + 1);
  });

  it('keeps a flood of LLM model names to a bounded number of series', async () => {
    for (let i = 0; i < MAX_LLM_MODEL_LABELS * 3; i++)
      metrics.observeLlmRequest('ollama', `model-${i}`, 'success');
    const models = new Set((await seriesOf('llm_requests_total')).map((labels) => labels.model));
    expect(models.size).toBe(MAX_LLM_MODEL_LABELS + 1);
    expect(models.has('other')).toBe(true);
  });

  it('keeps adapter outcomes to error codes, and bounded', async () => {
    metrics.observeAdapterRequest('a', 'rest', 'upstream said: <html>', 0.01);
    for (let i = 0; i < MAX_ADAPTER_OUTCOME_LABELS * 3; i++) {
      metrics.observeAdapterRequest('a', 'rest', `CODE_${i}`, 0.01);
    }
    const outcomes = new Set((await seriesOf('adapter_requests_total')).map((labels) => labels.outcome));
    expect(outcomes.has('INTERNAL_ERROR')).toBe(true);
    expect(outcomes.has('upstream said: <html>')).toBe(false);
    expect(outcomes.size).toBeLessThanOrEqual(MAX_ADAPTER_OUTCOME_LABELS + 2);
  });

  it('maps refused credentials onto a closed set of reasons', async () => {
    for (const code of [
      'API_KEY_INVALID',
      'SESSION_REVOKED',
      'TOKEN_INVALID',
      'SOMETHING_NEW',
      'x'.repeat(300),
    ]) {
      metrics.observeRefusedCredentials(code);
    }
    const reasons = (await seriesOf('auth_failures_total')).map((labels) => labels.reason).sort();
    expect(reasons).toEqual(['api_key_invalid', 'session_revoked', 'token_invalid']);
  });

  it('labels authz denials by method and route template, unmatched routes and odd methods folded', async () => {
    metrics.observeAuthzDenial('POST', '/api/v1/adapters');
    metrics.observeAuthzDenial('BREW', undefined);
    expect(await seriesOf('authz_denials_total')).toEqual(
      expect.arrayContaining([
        { method: 'POST', route: '/api/v1/adapters' },
        { method: 'OTHER', route: 'unmatched' },
      ]),
    );
  });

  it('reports registered database pools on scrape, and stops when unregistered', async () => {
    let stats = { inUse: 2, idle: 3, waiting: 1 };
    const unregister = metrics.registerDbPool(() => stats);
    expect(await register.getSingleMetricAsString('db_pool_connections')).toMatch(
      /db_pool_connections\{state="in_use"\} 2\n.*state="idle"\} 3\n.*state="waiting"\} 1/,
    );
    stats = { inUse: 0, idle: 5, waiting: 0 };
    expect(await register.getSingleMetricAsString('db_pool_connections')).toContain(
      'db_pool_connections{state="idle"} 5',
    );
    unregister();
    expect(await register.getSingleMetricAsString('db_pool_connections')).not.toContain('state=');
  });
});

describe('BoundedLabel', () => {
  it('admits the first values up to its cap, then answers other', () => {
    const label = new BoundedLabel(2);
    expect(['a', 'b', 'c', 'a', 'd', 'b'].map((value) => label.of(value))).toEqual([
      'a',
      'b',
      'other',
      'a',
      'other',
      'b',
    ]);
  });
});
