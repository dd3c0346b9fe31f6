import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigError, loadConfig } from '../src/config/load-config';

/*
 * Offline checks of everything under deploy/: the Kubernetes objects against the Kubernetes schemas
 * (kubernetes-models), their security properties, the compose stack and its nginx, and the metric
 * names used by the Grafana dashboard and the Prometheus alerts against the ones the service exports.
 * The Prometheus rules themselves are unit-tested by promtool (deploy/prometheus/alerts.test.yml).
 */

const ROOT = join(__dirname, '..');
const DEPLOY = join(ROOT, 'deploy');
const K8S = join(DEPLOY, 'k8s');

const read = (...parts: string[]): string => readFileSync(join(ROOT, ...parts), 'utf8');

/** One parsed YAML value, to be walked with optional chaining (manifests are data, not typed code). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML/JSON of arbitrary shape
type Doc = any;

// ---------------------------------------------------------------------------------------------
// Kubernetes schemas

interface ValidatingModel {
  validate(): void;
}
type ModelClass = new (data: unknown) => ValidatingModel;

/** apiVersion/kind -> the kubernetes-models module holding its class (named after the kind). */
const MODEL_MODULES: Readonly<Record<string, string>> = {
  'v1/Namespace': 'kubernetes-models/v1/Namespace',
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
  'v1/Secret': 'kubernetes-models/v1/Secret',
  'v1/Service': 'kubernetes-models/v1/Service',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'batch/v1/Job': 'kubernetes-models/batch/v1/Job',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
  'autoscaling/v2/HorizontalPodAutoscaler': 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
  'networking.k8s.io/v1/NetworkPolicy': 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
  'networking.k8s.io/v1/Ingress': 'kubernetes-models/networking.k8s.io/v1/Ingress',
};

/*
 * kubernetes-models ships ES modules only (its package exports have no `require` condition), and
 * TypeScript compiles `import()` to `require()` under module=commonjs. A Function keeps a real
 * dynamic import, which jest serves through its ESM loader (npm test runs with
 * --experimental-vm-modules).
 */
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- see above: the only way to keep import()
const importEsm = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<Record<string, unknown>>;

async function modelFor(apiVersion: string, kind: string): Promise<ModelClass> {
  const specifier = MODEL_MODULES[`${apiVersion}/${kind}`];
  if (specifier === undefined) throw new Error(`no schema mapped for ${apiVersion}/${kind}`);
  const module = await importEsm(specifier);
  return module[kind] as ModelClass;
}

interface Port {
  port: number | string;
}

/** One `alert_rule_test` entry of a promtool test file. */
interface AlertRuleTest {
  alertname: string;
  exp_alerts?: unknown[];
}

interface K8sObject {
  file: string;
  doc: Doc;
}

function k8sFiles(): string[] {
  return readdirSync(K8S)
    .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
    .sort();
}

function loadK8sObjects(): K8sObject[] {
  return k8sFiles()
    .filter((file) => file !== 'kustomization.yaml')
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((document) => {
        if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
        return { file, doc: document.toJS() };
      }),
    );
}

function objectOfKind(objects: readonly K8sObject[], kind: string): Doc {
  const found = objects.filter((object) => object.doc?.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0].doc;
}

// ---------------------------------------------------------------------------------------------
// PromQL metric names

const PROMQL_WORDS = new Set([
  // aggregations and their modifiers
  'sum', 'avg', 'min', 'max', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile',
  'count_values', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or',
  'unless', 'bool', 'offset',
  // functions
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'changes', 'resets', 'histogram_quantile',
  'absent', 'absent_over_time', 'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time',
  'count_over_time', 'last_over_time', 'quantile_over_time', 'clamp', 'clamp_min', 'clamp_max', 'abs',
  'ceil', 'floor', 'round', 'time', 'timestamp', 'vector', 'scalar', 'sort', 'sort_desc',
  'label_replace', 'label_join', 'predict_linear', 'sqrt', 'exp', 'ln', 'log2', 'log10',
]); // prettier-ignore

/** Metric names a PromQL expression selects (label matchers, ranges and grouping lists removed). */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const words = bare.match(/(?<![\w.$:])[a-zA-Z_:][\w:]*/g) ?? [];
  return [...new Set(words.filter((word) => !PROMQL_WORDS.has(word)))];
}

const METRICS_SOURCE = read('src', 'observability', 'metrics.service.ts');
/** Series that come from prom-client's default metrics, or from Prometheus itself (`up`). */
const DEFAULT_METRICS = [/^process_/, /^nodejs_/, /^up$/];

/** Undefined when the service (or prom-client's defaults) exports the metric; else the name. */
function undefinedMetric(name: string): string | undefined {
  const candidates = [name, name.replace(/_(?:bucket|sum|count)$/, '')];
  const known = candidates.some(
    (candidate) =>
      METRICS_SOURCE.includes(`'${candidate}'`) || DEFAULT_METRICS.some((pattern) => pattern.test(candidate)),
  );
  return known ? undefined : name;
}

// ---------------------------------------------------------------------------------------------
// Docs anchors (GitHub's slugs: lower case, punctuation dropped, spaces to hyphens)

function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const match of markdown.matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    anchors.add(
      match[1]
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    );
  }
  return anchors;
}

// ---------------------------------------------------------------------------------------------
// Environment helpers

/** Secrets strong enough for production checks, generated per run. */
function generatedSecrets(): Record<string, string> {
  return {
    POSTGRES_PASSWORD: randomBytes(24).toString('hex'),
    JWT_SECRET: randomBytes(48).toString('base64'),
    ADMIN_EMAIL: 'ops@mcp-admin.test',
    ADMIN_PASSWORD: randomBytes(18).toString('base64'),
    SECRETS_KEY: randomBytes(32).toString('base64'),
    METRICS_TOKEN: randomBytes(24).toString('hex'),
    GRAFANA_ADMIN_PASSWORD: randomBytes(18).toString('base64'),
  };
}

/** Compose's interpolation, for the only form the file may use: `${NAME:?message}`. */
function interpolate(value: string, variables: Readonly<Record<string, string>>): string {
  return value.replace(/\$\{([A-Z0-9_]+):\?[^}]*\}/g, (_, name: string) => {
    const found = variables[name];
    if (found === undefined) throw new Error(`compose would refuse to start: ${name} is unset`);
    return found;
  });
}

function stringMap(record: Doc): Record<string, string> {
  return Object.fromEntries(Object.entries(record ?? {}).map(([key, value]) => [key, String(value)]));
}

// =============================================================================================

describe('deploy/k8s', () => {
  const objects = loadK8sObjects();

  it('holds one object per file, each valid against the Kubernetes schema of its kind', async () => {
    const perFile = new Map<string, number>();
    for (const { file } of objects) perFile.set(file, (perFile.get(file) ?? 0) + 1);
    expect([...perFile.values()].every((count) => count === 1)).toBe(true);
    expect(objects.map(({ doc }) => doc.kind as string).sort()).toEqual(
      [
        'ConfigMap',
        'Deployment',
        'HorizontalPodAutoscaler',
        'Ingress',
        'Job',
        'Namespace',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'Secret',
        'Service',
      ].sort(),
    );
    const invalid: string[] = [];
    for (const { file, doc } of objects) {
      const Model = await modelFor(doc.apiVersion, doc.kind);
      try {
        new Model(doc).validate();
      } catch (error) {
        invalid.push(`${file}: ${(error as Error).message}`);
      }
    }
    expect(invalid).toEqual([]);
  });

  it('the schema check itself refuses a broken object', async () => {
    const Deployment = await modelFor('apps/v1', 'Deployment');
    const deployment = structuredClone(objectOfKind(objects, 'Deployment'));
    deployment.spec.replicas = 'two';
    expect(() => new Deployment(deployment).validate()).toThrow();
    const Hpa = await modelFor('autoscaling/v2', 'HorizontalPodAutoscaler');
    const hpa = structuredClone(objectOfKind(objects, 'HorizontalPodAutoscaler'));
    delete hpa.spec.scaleTargetRef;
    expect(() => new Hpa(hpa).validate()).toThrow();
  });

  it('kustomization.yaml lists every object file except the secret template', () => {
    const kustomization = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8'));
    const expected = k8sFiles().filter(
      (file) => !['kustomization.yaml', 'secret.example.yaml'].includes(file),
    );
    expect([...kustomization.resources].sort()).toEqual(expected);
    expect(kustomization.namespace).toBe('mcp-admin');
    expect(kustomization.images).toEqual([expect.objectContaining({ name: 'mcp-admin' })]);
  });

  it('the Secret is a template of stringData placeholders that production refuses', () => {
    const secret = objectOfKind(objects, 'Secret');
    expect(objects.find(({ doc }) => doc.kind === 'Secret')?.file).toBe('secret.example.yaml');
    expect(secret.data).toBeUndefined();
    expect(Object.keys(secret.stringData)).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'SECRETS_KEY', 'METRICS_TOKEN']),
    );
    const config = stringMap(objectOfKind(objects, 'ConfigMap').data);
    expect(() => loadConfig({ ...config, ...stringMap(secret.stringData) })).toThrow(ConfigError);
  });

  it('the ConfigMap holds documented, non-secret settings the service accepts', () => {
    const data = stringMap(objectOfKind(objects, 'ConfigMap').data);
    const documented = read('.env.example');
    const secretNames = ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'ADMIN_PASSWORD', 'SECRETS_KEY'];
    for (const key of Object.keys(data)) {
      expect(secretNames.concat('METRICS_TOKEN', 'OPENAI_API_KEY', 'SECRETS_KEY_PREVIOUS')).not.toContain(
        key,
      );
      // NODE_OPTIONS belongs to Node.js, not to the service's configuration.
      if (key !== 'NODE_OPTIONS') expect(documented).toMatch(new RegExp(`^#? ?${key}=`, 'm'));
    }
    const secrets = generatedSecrets();
    const config = loadConfig({
      ...data,
      DATABASE_URL: `postgres://mcp_admin:${secrets.POSTGRES_PASSWORD}@postgresql:5432/mcp_admin`,
      REDIS_URL: 'redis://redis:6379',
      JWT_SECRET: secrets.JWT_SECRET,
      SECRETS_KEY: secrets.SECRETS_KEY,
      METRICS_TOKEN: secrets.METRICS_TOKEN,
    });
    expect(config.isProduction).toBe(true);
    expect(config.http.trustProxy).toBe(true);
    expect(config.database.migrationsRun).toBe(false);
  });

  describe('pods', () => {
    const deployment = objectOfKind(objects, 'Deployment');
    const job = objectOfKind(objects, 'Job');
    const config = stringMap(objectOfKind(objects, 'ConfigMap').data);

    it.each([
      ['Deployment', deployment],
      ['migration Job', job],
    ])('%s runs non-root on a read-only root filesystem with no privileges', (_, workload: Doc) => {
      const pod = workload.spec.template.spec;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.containers.length).toBeGreaterThan(0);
      for (const container of pod.containers) {
        expect(container.securityContext).toMatchObject({
          runAsNonRoot: true,
          runAsUser: 1000,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(container.envFrom).toEqual([
          { configMapRef: { name: 'mcp-admin-config' } },
          { secretRef: { name: 'mcp-admin-secrets' } },
        ]);
        expect(container.resources.requests).toEqual(
          expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }),
        );
        expect(container.resources.limits).toEqual(expect.objectContaining({ memory: expect.any(String) }));
        // The only writable places are emptyDirs.
        const mounts = Object.fromEntries(
          (container.volumeMounts as Doc[]).map((mount) => [mount.mountPath, mount.name]),
        );
        for (const path of ['/app/data', '/tmp']) {
          const volume = (pod.volumes as Doc[]).find((candidate) => candidate.name === mounts[path]);
          expect(volume?.emptyDir).toBeDefined();
        }
      }
    });

    it('the Deployment names the ConfigMap and Secret that exist', () => {
      expect(objectOfKind(objects, 'ConfigMap').metadata.name).toBe('mcp-admin-config');
      expect(objectOfKind(objects, 'Secret').metadata.name).toBe('mcp-admin-secrets');
    });

    it('the Deployment rolls without losing capacity and drains before it stops', () => {
      expect(deployment.spec.replicas).toBe(2);
      expect(deployment.spec.strategy).toEqual({
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
      });
      const pod = deployment.spec.template.spec;
      const [container] = pod.containers;
      expect(container.startupProbe.httpGet.path).toBe('/health/live');
      expect(container.livenessProbe.httpGet.path).toBe('/health/live');
      expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
      expect(container.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
      const drainSeconds = 5 + Number(config.SHUTDOWN_GRACE_MS) / 1000;
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(drainSeconds);
      expect(container.env).toContainEqual({ name: 'DB_MIGRATIONS_RUN', value: 'false' });
      expect(config.DB_MIGRATIONS_RUN).toBe('false');
    });

    it('the migration Job runs the migration CLI once', () => {
      expect(job.spec.template.spec.restartPolicy).toBe('Never');
      expect(job.spec.template.spec.containers[0].command).toEqual([
        'node',
        'dist/cli/migrations.cli.js',
        'run',
      ]);
      expect(existsSync(join(ROOT, 'src', 'cli', 'migrations.cli.ts'))).toBe(true);
    });

    it('Service, PodDisruptionBudget, HorizontalPodAutoscaler and NetworkPolicy select these pods', () => {
      const labels = deployment.spec.template.metadata.labels;
      const selects = (selector: Record<string, string>) =>
        Object.entries(selector).every(([key, value]) => labels[key] === value);
      expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
      expect(selects(objectOfKind(objects, 'Service').spec.selector)).toBe(true);
      expect(objectOfKind(objects, 'Service').spec.sessionAffinity ?? 'None').toBe('None');

      const pdb = objectOfKind(objects, 'PodDisruptionBudget');
      expect(pdb.spec.minAvailable).toBe(1);
      expect(selects(pdb.spec.selector.matchLabels)).toBe(true);

      const hpa = objectOfKind(objects, 'HorizontalPodAutoscaler');
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.scaleTargetRef).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'mcp-admin',
      });
      expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([2, 6]);
      expect(hpa.spec.metrics).toEqual([
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ]);

      const policy = objectOfKind(objects, 'NetworkPolicy');
      expect(selects(policy.spec.podSelector.matchLabels)).toBe(true);
      expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      const portsOf = (rules: Doc[]) => rules.flatMap((rule) => (rule.ports as Port[]).map((p) => p.port));
      const ingressPorts = portsOf(policy.spec.ingress);
      expect(new Set(ingressPorts)).toEqual(new Set([3000]));
      expect((policy.spec.ingress as Doc[]).every((rule) => rule.from?.length > 0)).toBe(true);
      const egressPorts = portsOf(policy.spec.egress);
      expect(egressPorts).toEqual(expect.arrayContaining([53, 5432, 6379, 11434]));
    });
  });
});

// =============================================================================================

describe('deploy/docker-compose.yml', () => {
  const text = readFileSync(join(DEPLOY, 'docker-compose.yml'), 'utf8');
  // Compose applies YAML merge keys (<<: *app).
  const compose = parse(text, { merge: true });
  const services = compose.services;
  const appNames = Object.keys(services).filter(
    (name) => services[name].command === undefined && services[name].image === 'mcp-admin:local',
  );
  const nginxConf = readFileSync(join(DEPLOY, 'nginx', 'nginx.conf'), 'utf8').replace(/#.*$/gm, '');

  it('needs every secret from deploy/.env and refuses to start without one', () => {
    const references = [...text.matchAll(/\$\{([^}]*)\}/g)].map((match) => match[1]);
    expect(references.length).toBeGreaterThan(0);
    // Only the `:?` form: no silent empty or default secret.
    for (const reference of references) expect(reference).toMatch(/^[A-Z0-9_]+:\?.+/);
    const required = new Set(references.map((reference) => reference.split(':')[0]));
    for (const name of ['JWT_SECRET', 'ADMIN_EMAIL', 'ADMIN_PASSWORD', 'SECRETS_KEY', 'METRICS_TOKEN']) {
      expect(required).toContain(name);
    }
    const example = readFileSync(join(DEPLOY, '.env.example'), 'utf8');
    for (const name of required) expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
    expect(() => interpolate('${JWT_SECRET:?set it}', {})).toThrow(/JWT_SECRET is unset/);
  });

  it('runs two identical replicas of the image on PostgreSQL and Redis, migrated by a one-shot service', () => {
    expect(appNames.sort()).toEqual(['app1', 'app2']);
    const secrets = generatedSecrets();
    for (const name of appNames) {
      const app = services[name];
      expect(app.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
      const env = Object.fromEntries(
        Object.entries(stringMap(app.environment)).map(([key, value]) => [key, interpolate(value, secrets)]),
      );
      expect(env).toMatchObject({
        DB_MIGRATIONS_RUN: 'false',
        TRUST_PROXY: 'true',
        REDIS_URL: 'redis://redis:6379',
        PUBLIC_BASE_URL: 'http://localhost:8080',
      });
      expect(new URL(env.DATABASE_URL).host).toBe('postgres:5432');
      // The service accepts this environment in production mode.
      const config = loadConfig(env);
      expect(config.isProduction).toBe(true);
      expect(config.metrics.token).toBe(secrets.METRICS_TOKEN);
      expect(app.healthcheck.test.join(' ')).toContain("fetch('http://127.0.0.1:3000/health/ready')");
      expect(app.depends_on.migrate.condition).toBe('service_completed_successfully');
      expect(app.depends_on.postgres.condition).toBe('service_healthy');
      expect(app.depends_on.redis.condition).toBe('service_healthy');
    }
    expect(services.migrate.command).toEqual(['node', 'dist/cli/migrations.cli.js', 'run']);
    expect(services.migrate.restart).toBe('no');
    expect(services.postgres.image).toMatch(/^postgres:16/);
    expect(services.redis.image).toMatch(/^redis:7/);
    expect(services.redis.command).toEqual(['redis-server', '--save', '', '--appendonly', 'no']);
    expect(services.ollama.image).toMatch(/^ollama\/ollama/);
    for (const name of ['nginx', 'prometheus', 'grafana']) expect(services[name]).toBeDefined();
  });

  it('puts nginx in front of exactly the app replicas, round-robin without stickiness', () => {
    expect(services.nginx.volumes).toContain('./nginx/nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(Object.keys(services.nginx.depends_on).sort()).toEqual(appNames.sort());
    const upstream = /upstream\s+\w+\s*\{([^}]*)\}/.exec(nginxConf)?.[1] ?? '';
    const servers = [...upstream.matchAll(/^\s*server\s+(\S+?):3000\b/gm)].map((match) => match[1]);
    expect(servers.sort()).toEqual(appNames.sort());
    expect(upstream).not.toMatch(/\b(ip_hash|hash|sticky|least_conn|random)\b/);
    expect(nginxConf).not.toMatch(/\b(ip_hash|sticky)\b/);
  });

  it('nginx streams server-sent events unbuffered and forwards the client headers', () => {
    const locations = [...nginxConf.matchAll(/location\s+(?:([=~])\s+)?(\S+)\s*\{([^}]*)\}/g)].map(
      (match) => ({ modifier: match[1] ?? '', pattern: match[2], body: match[3] }),
    );
    // nginx's choice: an exact match, else the first matching regex, else the longest prefix.
    const locationFor = (path: string) =>
      locations.find(({ modifier, pattern }) => modifier === '=' && pattern === path) ??
      locations.find(({ modifier, pattern }) => modifier === '~' && new RegExp(pattern).test(path)) ??
      locations
        .filter(({ modifier, pattern }) => modifier === '' && path.startsWith(pattern))
        .sort((a, b) => b.pattern.length - a.pattern.length)[0];
    expect(locationFor('/api/v1/products')?.body).not.toMatch(/proxy_buffering/);
    for (const path of ['/mcp', '/mcp/sse', '/mcp/messages', '/api/v1/pipeline-runs/0b6c/events']) {
      const body = locationFor(path)?.body ?? '';
      expect(body).toMatch(/proxy_buffering\s+off;/);
      expect(body).toMatch(/proxy_read_timeout\s+1h;/);
    }
    // A proxy_set_header inside a location would drop every header set at server level.
    for (const { body } of locations) expect(body).not.toMatch(/proxy_set_header/);
    for (const header of ['X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'Host']) {
      expect(nginxConf).toMatch(new RegExp(`proxy_set_header\\s+${header}\\s`));
    }
  });

  it('Prometheus scrapes both replicas with the metrics token and loads the alert rules', () => {
    const prometheus = parse(readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8'));
    const job = (prometheus.scrape_configs as Doc[]).find((config) => config.job_name === 'mcp-admin');
    expect(job.metrics_path).toBe('/metrics');
    expect(job.static_configs[0].targets.sort()).toEqual(appNames.map((name) => `${name}:3000`).sort());
    expect(job.authorization).toEqual({ type: 'Bearer', credentials_file: '/run/secrets/metrics_token' });
    expect(services.prometheus.secrets).toContain('metrics_token');
    expect(compose.secrets.metrics_token).toEqual({ environment: 'METRICS_TOKEN' });
    expect(prometheus.rule_files).toEqual(['alerts.yml']);
    expect(services.prometheus.volumes).toEqual(
      expect.arrayContaining([
        './prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
        './prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro',
      ]),
    );
  });

  it('Grafana is provisioned with the Prometheus data source and the dashboard folder', () => {
    expect(services.grafana.volumes).toEqual(
      expect.arrayContaining([
        './grafana/provisioning:/etc/grafana/provisioning:ro',
        './grafana/dashboards:/var/lib/grafana/dashboards:ro',
      ]),
    );
    const provisioning = join(DEPLOY, 'grafana', 'provisioning');
    const datasources = parse(readFileSync(join(provisioning, 'datasources', 'prometheus.yml'), 'utf8'));
    expect(datasources.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    const dashboards = parse(readFileSync(join(provisioning, 'dashboards', 'mcp-admin.yml'), 'utf8'));
    expect(dashboards.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
  });
});

// =============================================================================================

describe('metric names', () => {
  it('are read out of PromQL without functions, labels, ranges or grouping lists', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le, route) (rate(a_seconds_bucket{route!~"/mcp.*", x="y"}[$__rate_interval]))) ' +
          '/ on (instance) group_left (task) max without (le) (b_total offset 5m) > 1e3 or absent(up{job="j"})',
      ).sort(),
    ).toEqual(['a_seconds_bucket', 'b_total', 'up']);
    expect(undefinedMetric('http_request_duration_seconds_bucket')).toBeUndefined();
    expect(undefinedMetric('nodejs_eventloop_lag_seconds')).toBeUndefined();
    expect(undefinedMetric('no_such_metric_total')).toBe('no_such_metric_total');
  });
});

describe('deploy/grafana/dashboards/mcp-admin.json', () => {
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'dashboards', 'mcp-admin.json'), 'utf8'));
  const panels = (dashboard.panels as Doc[]).filter((panel) => panel.type !== 'row');
  const expressions = panels.flatMap((panel) =>
    (panel.targets as Doc[]).map((target) => String(target.expr)),
  );
  const queried = new Set(expressions.flatMap(metricNamesIn));

  it('selects its Prometheus through the datasource variable', () => {
    expect(dashboard.uid).toBe('mcp-admin');
    const variable = (dashboard.templating.list as Doc[]).find((entry) => entry.name === 'datasource');
    expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const panel of panels) {
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const target of panel.targets) expect(target.datasource.uid).toBe('${datasource}');
    }
  });

  it('lays out panels with unique ids inside the 24-column grid', () => {
    const ids = (dashboard.panels as Doc[]).map((panel) => panel.id as number);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
  });

  it('covers HTTP, auth, audit, adapters, cache, tools, MCP, pipelines, LLM, database and runtime', () => {
    for (const name of [
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'auth_failures_total',
      'auth_lockouts_total',
      'authz_denials_total',
      'audit_write_duration_seconds_bucket',
      'audit_write_failures_total',
      'audit_unsealed_events',
      'adapter_request_duration_seconds_bucket',
      'adapter_requests_total',
      'cache_requests_total',
      'tool_calls_total',
      'mcp_sessions_active',
      'pipeline_items_total',
      'pipeline_run_duration_seconds_bucket',
      'llm_request_duration_seconds_bucket',
      'llm_tokens_total',
      'db_pool_connections',
      'nodejs_eventloop_lag_seconds',
      'process_resident_memory_bytes',
      'process_open_fds',
    ]) {
      expect(queried).toContain(name);
    }
  });

  it('queries only metrics the service exports', () => {
    const templateMetrics = (dashboard.templating.list as Doc[])
      .map((entry) => /label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(String(entry.definition ?? ''))?.[1])
      .filter((name): name is string => name !== undefined);
    const unknown = [...queried, ...templateMetrics].map(undefinedMetric).filter(Boolean);
    expect(unknown).toEqual([]);
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  const rules = parse(readFileSync(join(DEPLOY, 'prometheus', 'alerts.yml'), 'utf8'));
  const group = (rules.groups as Doc[]).find((candidate) => candidate.name === 'mcp-admin');
  const alerts = (group?.rules ?? []) as Doc[];
  const anchors = headingAnchors(read('docs', 'operations.md'));

  it('has the alerts of the runbook, each with severity, summary, description and a runbook link', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(9);
    for (const alert of alerts) {
      expect(['critical', 'warning']).toContain(alert.labels?.severity);
      expect(alert.annotations.summary).toEqual(expect.any(String));
      expect(alert.annotations.description).toEqual(expect.any(String));
      const anchor = /^docs\/operations\.md#([\w-]+)$/.exec(alert.annotations.runbook)?.[1];
      expect(anchor).toBeDefined();
      expect(anchors).toContain(anchor);
    }
  });

  it('uses only metrics the service exports', () => {
    const unknown = alerts.flatMap((alert) => metricNamesIn(String(alert.expr))).map(undefinedMetric);
    expect(unknown.filter(Boolean)).toEqual([]);
  });

  it('is unit-tested by promtool: each alert fires in one case and stays quiet in another', () => {
    const tests = parse(readFileSync(join(DEPLOY, 'prometheus', 'alerts.test.yml'), 'utf8'));
    expect(tests.rule_files).toEqual(['alerts.yml']);
    const cases = (tests.tests as Doc[]).flatMap((test) => test.alert_rule_test as AlertRuleTest[]);
    for (const alert of alerts) {
      const own = cases.filter((entry) => entry.alertname === alert.alert);
      const expected = own.map((entry) => entry.exp_alerts?.length);
      // A case without exp_alerts expects nothing either, but say so explicitly: `exp_alerts: []`.
      expect(expected.some((count) => count !== undefined && count > 0)).toBe(true);
      expect(expected).toContain(0);
    }
  });
});
