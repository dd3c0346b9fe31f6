import { ServiceUnavailableError } from '../common/app-error';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long an open circuit refuses calls before letting one trial call through. */
  readonly openMs: number;
}

interface Circuit {
  failures: number;
  openUntil: number;
  trialInFlight: boolean;
}

/**
 * Per-key circuit breakers (one per adapter): after `failureThreshold` consecutive failures calls are
 * refused at once with 503 for `openMs`, then one trial call decides whether the circuit closes.
 * In-process state: each replica judges the upstream by what it sees itself.
 */
export class CircuitBreakers {
  private readonly circuits = new Map<string, Circuit>();

  constructor(private readonly options: CircuitBreakerOptions) {}

  /** `isFailure` judges a result (an upstream 5xx answer, say) or a thrown error. */
  async run<T>(
    key: string,
    isFailure: (outcome: { result?: T; error?: unknown }) => boolean,
    call: () => Promise<T>,
  ): Promise<T> {
    const circuit = this.circuits.get(key) ?? { failures: 0, openUntil: 0, trialInFlight: false };
    this.circuits.set(key, circuit);
    const now = Date.now();
    const open = circuit.failures >= this.options.failureThreshold;
    if (open && (now < circuit.openUntil || circuit.trialInFlight)) {
      const retryAfter = Math.max(1, Math.ceil((circuit.openUntil - now) / 1000));
      throw new ServiceUnavailableError(
        'ADAPTER_CIRCUIT_OPEN',
        'The upstream failed repeatedly; calls are paused for a moment.',
        undefined,
        { 'Retry-After': String(retryAfter) },
      );
    }
    if (open) circuit.trialInFlight = true;
    try {
      const result = await call();
      if (isFailure({ result })) this.failed(circuit);
      else circuit.failures = 0;
      return result;
    } catch (error) {
      if (isFailure({ error })) this.failed(circuit);
      throw error;
    } finally {
      circuit.trialInFlight = false;
    }
  }

  private failed(circuit: Circuit): void {
    circuit.failures++;
    if (circuit.failures >= this.options.failureThreshold)
      circuit.openUntil = Date.now() + this.options.openMs;
  }
}
