import {
  credentialMasker,
  incomingQueryAttributes,
  outgoingUrl,
  ThrottledDiagLogger,
  tracesUrl,
} from './tracing-sdk';

describe('tracesUrl', () => {
  it.each([
    ['http://collector:4318', 'http://collector:4318/v1/traces'],
    ['http://collector:4318/', 'http://collector:4318/v1/traces'],
    ['https://otlp.example.com/tenant-a/', 'https://otlp.example.com/tenant-a/v1/traces'],
    ['https://u:p@otlp.example.com', 'https://u:p@otlp.example.com/v1/traces'],
  ])('%s -> %s', (endpoint, expected) => {
    expect(tracesUrl(endpoint).href).toBe(expected);
  });
});

describe('incomingQueryAttributes', () => {
  it('records no query when there is none', () => {
    expect(incomingQueryAttributes('/api/v1/products')).toEqual({});
    expect(incomingQueryAttributes(undefined)).toEqual({});
  });

  it('keeps ordinary parameters and redacts secret-named and signature parameters', () => {
    expect(
      incomingQueryAttributes('/x?page=2&access_token=abc&apiKey=k&password=p&Signature=s&q=a%20b'),
    ).toEqual({
      'url.query': 'page=2&access_token=REDACTED&apiKey=REDACTED&password=REDACTED&Signature=REDACTED&q=a+b',
    });
  });
});

describe('outgoingUrl', () => {
  it('drops userinfo, query and fragment', () => {
    expect(
      outgoingUrl({
        protocol: 'https:',
        hostname: 'api.example.com',
        port: 443,
        path: '/v2/items?key=secret#top',
        auth: 'u:p',
      }),
    ).toBe('https://api.example.com/v2/items');
  });

  it('keeps a non-default port and brackets IPv6 addresses', () => {
    expect(outgoingUrl({ protocol: 'http:', hostname: '::1', port: 8080, path: '/a' })).toBe(
      'http://[::1]:8080/a',
    );
    expect(outgoingUrl({ host: 'upstream:9000', path: '/b?c=d' })).toBe('http://upstream:9000/b');
  });

  it('answers a placeholder for an unparsable target instead of the raw URL', () => {
    expect(outgoingUrl({ protocol: 'http:', hostname: 'bad host', path: '/?key=secret' })).toBe(
      'http://REDACTED',
    );
  });
});

describe('credentialMasker', () => {
  it('masks userinfo (raw, decoded and as Basic credentials) and OTLP header values', () => {
    const mask = credentialMasker('https://svc:p%40ss-word@otlp.example.com', {
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=hdr-secret,x-tenant=acme%20corp',
    });
    const basic = Buffer.from('svc:p@ss-word').toString('base64');
    expect(mask(`to https://svc:p%40ss-word@otlp.example.com: p@ss-word ${basic} hdr-secret acme corp`)).toBe(
      'to https://[REDACTED]:[REDACTED]@otlp.example.com: [REDACTED] [REDACTED] [REDACTED] [REDACTED]',
    );
  });

  it('leaves messages alone when the endpoint carries no credentials', () => {
    expect(credentialMasker('http://collector:4318', {})('export failed: ECONNREFUSED')).toBe(
      'export failed: ECONNREFUSED',
    );
  });
});

describe('ThrottledDiagLogger', () => {
  it('logs at most one line per interval, masked and truncated, and counts the rest', () => {
    const lines: Array<[string, string]> = [];
    let now = 0;
    const diag = new ThrottledDiagLogger(
      { error: (m: string) => lines.push(['error', m]), warn: (m: string) => lines.push(['warn', m]) },
      (text) => text.replace('s3cret', '[REDACTED]'),
      60_000,
      () => now,
    );
    diag.error('export failed:', new Error('s3cret rejected'));
    now = 1_000;
    diag.warn('dropped 3 spans');
    diag.error('export failed again');
    diag.info();
    now = 61_000;
    diag.warn('x'.repeat(5_000));
    expect(lines[0]).toEqual(['error', 'export failed: [REDACTED] rejected']);
    expect(lines[1][0]).toBe('warn');
    expect(lines[1][1]).toMatch(/^x{1000} \(2 more since the last one\)$/);
    expect(lines).toHaveLength(2);
  });
});
