import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A round-robin TCP load balancer on 127.0.0.1, like nginx in front of the replicas: no stickiness,
 * each new connection goes to the next backend, and a backend that refuses the connection is
 * skipped for the next one (nginx's `proxy_next_upstream error`).
 */
export class Balancer {
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private next = 0;
  port = 0;

  constructor(private readonly backends: () => number[]) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('balancer has no port');
    this.port = address.port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: Socket): void {
    this.track(client);
    client.pause();
    const ports = this.backends();
    const tryBackend = (attempt: number): void => {
      if (attempt >= ports.length || client.destroyed) {
        client.destroy();
        return;
      }
      const port = ports[this.next++ % ports.length];
      const upstream = connect(port, '127.0.0.1');
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        this.track(upstream);
        client.on('error', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
      });
      upstream.on('error', () => {
        if (connected) client.destroy();
        else tryBackend(attempt + 1);
      });
    };
    tryBackend(0);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  }
}
