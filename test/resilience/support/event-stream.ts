/**
 * Reads a server-sent event stream (a pipeline run's events) in the background: the events seen,
 * and how the stream ended (`end`: the server closed it after a complete event; `error`: cut off).
 */
export class EventStream {
  readonly events: Array<{ event: string; id?: string; data: string }> = [];
  ended: 'end' | 'error' | undefined;
  readonly finished: Promise<void>;
  private readonly abort = new AbortController();

  constructor(url: string, token: string, lastEventId?: string) {
    this.finished = this.read(url, token, lastEventId);
  }

  get lastId(): string | undefined {
    return this.events.filter((event) => event.id !== undefined).at(-1)?.id;
  }

  has(event: string): boolean {
    return this.events.some((e) => e.event === event);
  }

  close(): void {
    this.abort.abort();
  }

  private async read(url: string, token: string, lastEventId?: string): Promise<void> {
    let buffer = '';
    try {
      const response = await fetch(url, {
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'text/event-stream',
          ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
        },
        signal: this.abort.signal,
      });
      if (response.status !== 200 || response.body === null) throw new Error(`status ${response.status}`);
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          this.parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
      // A clean end leaves no half event behind.
      this.ended = buffer.trim() === '' ? 'end' : 'error';
    } catch {
      this.ended = 'error';
    }
  }

  private parse(block: string): void {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0)
      this.events.push({ event, ...(id === undefined ? {} : { id }), data: data.join('\n') });
  }
}
