/**
 * The resilience suite (`npm run test:resilience`): the compiled service in several processes on a
 * throwaway PostgreSQL and Redis, with restarts, SIGTERM and SIGKILL of replicas, and a soak.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  testMatch: ['<rootDir>/test/resilience/**/*.resilience-spec.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 300_000,
  // One scenario at a time: each one starts its own servers and loads a 2-core machine.
  maxWorkers: 1,
  verbose: true,
};
