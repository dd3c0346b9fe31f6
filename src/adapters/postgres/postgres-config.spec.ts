import { POSTGRES_LIMITS, resolvePostgresConfig, transactionLimits } from './postgres-config';

describe('resolvePostgresConfig', () => {
  it('applies the defaults', () => {
    expect(resolvePostgresConfig({})).toEqual({
      poolSize: 2,
      statementTimeoutMs: 5_000,
      maxRows: 1_000,
      allowedCidrs: [],
    });
  });

  it('keeps values within the bounds', () => {
    const config = { poolSize: 20, statementTimeoutMs: 100, maxRows: 10_000, allowedCidrs: ['10.0.0.0/8'] };
    expect(resolvePostgresConfig(config)).toEqual(config);
  });

  it('refuses values outside the bounds, naming every field', () => {
    expect(() => resolvePostgresConfig({ poolSize: 0, statementTimeoutMs: 60_001, maxRows: 1.5 })).toThrow(
      expect.objectContaining({
        status: 400,
        code: 'VALIDATION_FAILED',
        details: [
          { field: 'config.poolSize', issue: 'must be an integer from 1 to 20' },
          { field: 'config.statementTimeoutMs', issue: 'must be an integer from 100 to 60000' },
          { field: 'config.maxRows', issue: 'must be an integer from 1 to 10000' },
        ],
      }),
    );
    expect(() => resolvePostgresConfig({ maxRows: POSTGRES_LIMITS.maxRows.max + 1 })).toThrow();
  });
});

describe('transactionLimits', () => {
  it('caps the lock wait and leaves room past the statement timeout for the idle-in-transaction one', () => {
    expect(transactionLimits(300)).toEqual({
      statementTimeoutMs: 300,
      lockTimeoutMs: 300,
      idleInTransactionMs: 5_300,
    });
    expect(transactionLimits(30_000)).toEqual({
      statementTimeoutMs: 30_000,
      lockTimeoutMs: 2_000,
      idleInTransactionMs: 35_000,
    });
  });
});
