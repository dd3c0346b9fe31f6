import { appendFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const OUTPUT_DIR = resolve(__dirname, '../../../test-output');

/**
 * Prints a scenario's figures and appends them, with the time, to test-output/resilience.ndjson,
 * so a run's figures can be read back (docs/PERFORMANCE.md quotes them).
 */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ scenario, at: new Date().toISOString(), ...figures });
  process.stdout.write(`\n[resilience] ${scenario}: ${JSON.stringify(figures, null, 2)}\n`);
  mkdirSync(OUTPUT_DIR, { recursive: true });
  appendFileSync(join(OUTPUT_DIR, 'resilience.ndjson'), `${line}\n`);
}
