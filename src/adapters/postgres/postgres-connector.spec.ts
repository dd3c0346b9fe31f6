import { once } from 'node:events';
import tls, { type ConnectionOptions } from 'node:tls';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Test } from '@nestjs/testing';
import { AppError } from '../../common/app-error';
import { SsrfGuard } from '../ssrf-guard';
import { type PostgresAdapter, PostgresConnector } from './postgres-connector';

/**
 * Just enough of the PostgreSQL wire protocol to see what a client sends: it asks for a cleartext
 * password, records it, and refuses it with a 28P01 whose message echoes the password (as a
 * careless or hostile server might), so the test can check the password never comes back out.
 */
class FakePostgres {
  readonly passwords: string[] = [];
  connections = 0;
  private readonly sockets = new Set<Socket>();
  private server!: Server;

  constructor(private readonly behaviour: 'refuse-password' | 'silent' | 'accept-tls') {}

  async start(): Promise<number> {
    this.server = createServer((socket) => this.serve(socket));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    if (this.behaviour === 'silent') return;
    if (this.behaviour === 'accept-tls') {
      // Says yes to the SSLRequest, then speaks no TLS: enough to see how the client starts it.
      socket.once('data', () => socket.write('S'));
      return;
    }
    let buffer = Buffer.alloc(0);
    let startedUp = false;
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!startedUp) {
        if (buffer.length < 4 || buffer.length < buffer.readInt32BE(0)) return;
        buffer = buffer.subarray(buffer.readInt32BE(0));
        startedUp = true;
        // AuthenticationCleartextPassword
        socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]));
      }
      if (buffer.length < 5 || buffer[0] !== 0x70 || buffer.length < 1 + buffer.readInt32BE(1)) return;
      const password = buffer.subarray(5, 1 + buffer.readInt32BE(1) - 1).toString('utf8');
      this.passwords.push(password);
      socket.end(
        errorResponse('28P01', `password authentication failed for user "reader" (got "${password}")`),
      );
    });
  }
}

function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.concat([
    ...[
      ['S', 'FATAL'],
      ['V', 'FATAL'],
      ['C', code],
      ['M', message],
    ].map(([key, value]) => Buffer.from(`${key}${value}\0`, 'utf8')),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

function adapter(connectionString: string | undefined, allowedCidrs?: string[]): PostgresAdapter {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    name: 'warehouse',
    type: 'postgres',
    config: { statementTimeoutMs: 1_000, ...(allowedCidrs === undefined ? {} : { allowedCidrs }) },
    secrets: connectionString === undefined ? {} : { connectionString },
    // As the registry does: a revision per configuration and secrets.
    revision: JSON.stringify([connectionString, allowedCidrs]),
  };
}

async function failure(work: Promise<unknown>): Promise<AppError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

const LOOPBACK = ['127.0.0.1/32'];

describe('PostgresConnector (without a PostgreSQL server)', () => {
  let connector: PostgresConnector;

  beforeEach(() => {
    // db.example.test stands for any public-looking name that resolves to the loopback interface.
    connector = new PostgresConnector(
      new SsrfGuard(() => Promise.resolve([{ address: '127.0.0.1', family: 4 }])),
    );
  });

  afterEach(async () => {
    await connector.onApplicationShutdown();
  });

  it('refuses a loopback target unless allowedCidrs admits it, before connecting', async () => {
    const server = new FakePostgres('refuse-password');
    const port = await server.start();
    try {
      for (const host of ['127.0.0.1', 'db.example.test', '[::ffff:127.0.0.1]', '2130706433']) {
        const error = await failure(
          connector.query(adapter(`postgres://reader:pw@${host}:${port}/db`), 'SELECT 1'),
        );
        expect(error).toMatchObject({ status: 400, code: 'ADAPTER_TARGET_FORBIDDEN' });
      }
      expect(server.connections).toBe(0);
      expect(connector.poolCount).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('refuses Unix-domain sockets', async () => {
    for (const connectionString of ['/var/run/postgresql db', 'postgres://u@h/db?host=/var/run/postgresql']) {
      const error = await failure(connector.test(adapter(connectionString, LOOPBACK)));
      expect(error).toMatchObject({ status: 400, code: 'ADAPTER_TARGET_FORBIDDEN' });
    }
  });

  it('answers a refused password with 502 whose message holds neither the password nor the connection string', async () => {
    const server = new FakePostgres('refuse-password');
    const port = await server.start();
    const password = 'Tr0ub4dor&3-very-secret';
    const connectionString = `postgres://reader:${encodeURIComponent(password)}@db.example.test:${port}/shop`;
    try {
      const error = await failure(connector.query(adapter(connectionString, LOOPBACK), 'SELECT 1'));
      // The fake server saw the real password, at the address the name resolved to: the test is live.
      expect(server.passwords).toEqual([password]);
      expect(error).toMatchObject({ status: 502, code: 'ADAPTER_UPSTREAM_ERROR' });
      expect(error.message).toContain('password authentication failed for user "reader"');
      const shown = JSON.stringify({ message: error.message, details: error.details, stack: error.stack });
      expect(shown).not.toContain(password);
      expect(shown).not.toContain(encodeURIComponent(password));
      expect(shown).not.toContain(connectionString);
    } finally {
      await server.stop();
    }
  });

  it("never sends this service's PGPASSWORD to an adapter whose string has no password", async () => {
    const server = new FakePostgres('refuse-password');
    const port = await server.start();
    process.env.PGPASSWORD = 'service-own-password';
    try {
      await failure(connector.test(adapter(`postgres://reader@127.0.0.1:${port}/shop`, LOOPBACK)));
      expect(server.passwords).toEqual(['']);
    } finally {
      delete process.env.PGPASSWORD;
      await server.stop();
    }
  });

  it('connects to the checked address and verifies TLS against the host name written', async () => {
    const server = new FakePostgres('accept-tls');
    const port = await server.start();
    const seen: ConnectionOptions[] = [];
    // node-postgres calls tls.connect(options) with the options it will verify the server against.
    const capture = (options: ConnectionOptions) => {
      seen.push(options);
      throw Object.assign(new Error('handshake refused by the test'), { code: 'ERR_TLS_TEST' });
    };
    const connect = jest.spyOn(tls, 'connect').mockImplementation(capture as unknown as typeof tls.connect);
    try {
      for (const host of ['db.example.test', '127.0.0.1']) {
        const error = await failure(
          connector.test(adapter(`postgres://reader:pw@${host}:${port}/shop?sslmode=require`, LOOPBACK)),
        );
        expect(error).toMatchObject({ status: 502, code: 'ADAPTER_UNREACHABLE' });
      }
      expect(server.connections).toBe(2);
      expect(seen).toEqual([
        expect.objectContaining({
          host: '127.0.0.1',
          servername: 'db.example.test',
          rejectUnauthorized: true,
        }),
        expect.objectContaining({ host: '127.0.0.1', rejectUnauthorized: true }),
      ]);
      // No SNI for an address (RFC 6066): the certificate is then checked against the address.
      expect(seen[1].servername).toBeUndefined();
    } finally {
      connect.mockRestore();
      await server.stop();
    }
  });

  it('answers a closed port with 502 ADAPTER_UNREACHABLE', async () => {
    const server = new FakePostgres('refuse-password');
    const port = await server.start();
    await server.stop();
    const error = await failure(
      connector.test(adapter(`postgres://reader:pw@127.0.0.1:${port}/shop`, LOOPBACK)),
    );
    expect(error).toMatchObject({ status: 502, code: 'ADAPTER_UNREACHABLE' });
    expect(error.message).toContain('connection refused');
  });

  it('answers a server that accepts but never speaks with 504 ADAPTER_TIMEOUT after the connect timeout', async () => {
    const server = new FakePostgres('silent');
    const port = await server.start();
    try {
      const error = await failure(
        connector.test(adapter(`postgres://reader:pw@127.0.0.1:${port}/shop`, LOOPBACK)),
      );
      expect(error).toMatchObject({ status: 504, code: 'ADAPTER_TIMEOUT' });
    } finally {
      await server.stop();
    }
  });

  it('refuses a query before opening any connection', async () => {
    const server = new FakePostgres('refuse-password');
    const port = await server.start();
    try {
      const error = await failure(
        connector.query(adapter(`postgres://reader:pw@127.0.0.1:${port}/shop`, LOOPBACK), 'DROP TABLE t'),
      );
      expect(error).toMatchObject({ status: 400, code: 'QUERY_NOT_ALLOWED' });
      expect(server.connections).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('answers an adapter without a connection string with 400', async () => {
    const error = await failure(connector.query(adapter(undefined, LOOPBACK), 'SELECT 1'));
    expect(error).toMatchObject({ status: 400, code: 'ADAPTER_NOT_CONFIGURED' });
  });

  it('checks literal targets when an adapter is saved, and leaves names to call time', () => {
    expect(() => connector.assertTargetAllowed('postgres://u:pw@127.0.0.1/db', [])).toThrow(
      expect.objectContaining({ code: 'ADAPTER_TARGET_FORBIDDEN' }),
    );
    expect(() => connector.assertTargetAllowed('postgres://u:pw@[::1]/db', [])).toThrow(
      expect.objectContaining({ code: 'ADAPTER_TARGET_FORBIDDEN' }),
    );
    expect(() => connector.assertTargetAllowed('postgres://u:pw@127.0.0.1/db', LOOPBACK)).not.toThrow();
    expect(() => connector.assertTargetAllowed('postgres://u:pw@db.example.test/db', [])).not.toThrow();
    expect(() => connector.assertTargetAllowed('postgres://u:pw@h/db?sslrootcert=/etc/passwd', [])).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
  });

  it('refuses configurations outside the bounds', async () => {
    const record = adapter('postgres://reader:pw@127.0.0.1/shop', LOOPBACK);
    const error = await failure(
      connector.query({ ...record, config: { ...record.config, maxRows: 1_000_000 } }, 'SELECT 1'),
    );
    expect(error).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('is built by Nest with the SSRF guard alone (the schema introspector is optional)', async () => {
    const moduleRef = await Test.createTestingModule({ providers: [SsrfGuard, PostgresConnector] }).compile();
    const built = moduleRef.get(PostgresConnector);
    expect(built).toBeInstanceOf(PostgresConnector);
    const error = await failure(built.test(adapter('postgres://reader:pw@127.0.0.1/shop')));
    expect(error.code).toBe('ADAPTER_TARGET_FORBIDDEN');
    await moduleRef.close();
  });
});
