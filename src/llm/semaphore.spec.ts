import { Semaphore } from './semaphore';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Semaphore', () => {
  it('never lets more than its capacity in, and hands slots over in arrival order', async () => {
    const semaphore = new Semaphore(2);
    const order: number[] = [];
    const first = await semaphore.acquire();
    const second = await semaphore.acquire();
    const waiting = [3, 4, 5].map((n) => semaphore.acquire().then((release) => (order.push(n), release)));
    await tick();
    expect(semaphore.inFlight).toBe(2);
    expect(semaphore.queued).toBe(3);
    expect(order).toEqual([]);

    first();
    first(); // a second release of the same slot changes nothing
    await tick();
    expect(order).toEqual([3]);
    expect(semaphore.inFlight).toBe(2);

    second();
    const third = await waiting[0];
    third();
    await tick();
    expect(order).toEqual([3, 4, 5]);
    for (const release of await Promise.all(waiting.slice(1))) release();
    expect(semaphore.inFlight).toBe(0);
    expect(semaphore.queued).toBe(0);
  });

  it('drops a waiter whose signal aborts, with the signal reason, without losing the slot', async () => {
    const semaphore = new Semaphore(1);
    const held = await semaphore.acquire();
    const controller = new AbortController();
    const abandoned = semaphore.acquire(controller.signal);
    const patient = semaphore.acquire();
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(abandoned).rejects.toBe(reason);
    expect(semaphore.queued).toBe(1);
    held();
    const release = await patient;
    expect(semaphore.inFlight).toBe(1);
    release();
    expect(semaphore.inFlight).toBe(0);
  });

  it('refuses at once when the signal has already aborted, and times out with AbortSignal.timeout', async () => {
    const semaphore = new Semaphore(1);
    await expect(semaphore.acquire(AbortSignal.abort(new Error('no')))).rejects.toThrow('no');
    const held = await semaphore.acquire();
    await expect(semaphore.acquire(AbortSignal.timeout(20))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(semaphore.queued).toBe(0);
    held();
  });

  it('rejects a capacity below one', () => {
    expect(() => new Semaphore(0)).toThrow();
  });
});
