import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { UpstreamError, UpstreamTimeoutError } from '../../common/app-error';
import type { ResolvedTarget } from '../ssrf-guard';

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface PinnedRequest {
  method: string;
  headers: Record<string, string>;
  body?: Buffer;
  connectTimeoutMs: number;
  /** Absolute time (Date.now() based) by which the whole exchange must be over. */
  deadline: number;
  maxBytes: number;
}

/** Connection errors worth another attempt for an idempotent request. */
export const RETRYABLE_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
]);

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1_000 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1_000 }),
};

export class ConnectionFailedError extends UpstreamError {
  constructor(readonly reason: string) {
    super('ADAPTER_UNREACHABLE', 'The upstream could not be reached.', [{ issue: reason }]);
  }
}

/**
 * One HTTP exchange with the address the SSRF guard checked: the socket connects to `target.address`
 * whatever DNS says now (TLS still verifies the host name). Bounded by a connect timeout, an overall
 * deadline and a response size cap.
 */
export function requestPinned(
  url: URL,
  target: ResolvedTarget,
  request: PinnedRequest,
): Promise<UpstreamResponse> {
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all)
      callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<UpstreamResponse>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadlineTimer);
      clearTimeout(connectTimer);
      req.destroy();
      reject(error);
    };
    const req = transport.request(url, {
      method: request.method,
      headers: request.headers,
      agent: agents[url.protocol as 'http:' | 'https:'],
      lookup: pinned,
    });
    const deadlineTimer = setTimeout(
      () => fail(new UpstreamTimeoutError('ADAPTER_TIMEOUT', 'The upstream did not answer in time.')),
      Math.max(1, request.deadline - Date.now()),
    );
    const connectTimer = setTimeout(
      () =>
        fail(
          new UpstreamTimeoutError('ADAPTER_TIMEOUT', 'The upstream did not accept the connection in time.'),
        ),
      request.connectTimeoutMs,
    );
    req.on('socket', (socket) => {
      if (!socket.connecting) clearTimeout(connectTimer);
      else socket.once('connect', () => clearTimeout(connectTimer));
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      fail(new ConnectionFailedError(error.code ?? error.message)),
    );
    req.on('response', (res) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > request.maxBytes) {
        fail(tooLarge(request.maxBytes));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > request.maxBytes) fail(tooLarge(request.maxBytes));
        else chunks.push(chunk);
      });
      res.on('error', (error: NodeJS.ErrnoException) =>
        fail(new ConnectionFailedError(error.code ?? error.message)),
      );
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadlineTimer);
        clearTimeout(connectTimer);
        resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.end(request.body);
  });
}

function tooLarge(maxBytes: number): UpstreamError {
  return new UpstreamError(
    'ADAPTER_RESPONSE_TOO_LARGE',
    `The upstream's response is larger than this adapter's limit of ${maxBytes} bytes.`,
  );
}
