import { call } from './http';

/** One kind of read the soak sends. */
export interface ReadKind {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
}

/**
 * Reads at a fixed rate (not as fast as possible), round-robin over the replicas and over a mix of
 * routes. At most `maxInFlight` wait at once; a tick that finds them all busy is counted as
 * `skipped`, which means the service fell behind the rate.
 */
export class SteadyReads {
  readonly statuses = new Map<string, number>();
  served = 0;
  skipped = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private tick = 0;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly urls: () => string[],
    private readonly token: string,
    private readonly kinds: ReadKind[],
    private readonly perSecond: number,
    private readonly maxInFlight = 64,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.fire(), 1000 / this.perSecond);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.pending);
  }

  /** Answers with a 5xx status or none at all. */
  failures(): number {
    let failures = 0;
    for (const [key, count] of this.statuses) {
      const status = Number(key.split(' ')[0]);
      if (status === 0 || status >= 500) failures += count;
    }
    return failures;
  }

  private fire(): void {
    if (this.inFlight >= this.maxInFlight) {
      this.skipped += 1;
      return;
    }
    const urls = this.urls();
    const kind = this.kinds[this.tick % this.kinds.length];
    const url = urls[Math.floor(this.tick / this.kinds.length) % urls.length];
    this.tick += 1;
    this.inFlight += 1;
    const request = call(url, kind.method, kind.path, { token: this.token, body: kind.body }).then(
      (answer) => {
        this.inFlight -= 1;
        this.served += 1;
        const key = `${answer.status} ${kind.name}`;
        this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
      },
    );
    this.pending.add(request);
    void request.finally(() => this.pending.delete(request));
  }
}
