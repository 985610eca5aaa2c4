/**
 * The gRPC transport to the coordinator: HTTP/2 with a connect timeout, HTTP/2 PINGs on open
 * streams, and the bearer token on every call. Node's http2 has no connect timeout of its own
 * (an unroutable address hangs for minutes), and the local fallback must decide quickly, so the
 * socket is created here and destroyed with ETIMEDOUT when the TCP/TLS handshake takes too long.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import type { Duplex } from "node:stream";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";

export interface CoordinatorTransportOptions {
  url: string;
  token?: string | undefined;
  /** Give up opening a connection after this long (ms). */
  connectTimeoutMs: number;
  /** Send an HTTP/2 PING on open streams this often to notice a dead peer (ms). */
  pingIntervalMs: number;
}

export interface CoordinatorTransport {
  readonly transport: Transport;
  /** Closes the HTTP/2 connection and every stream on it. */
  close(): void;
}

function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

function timedSocket(url: URL, connectTimeoutMs: number): Duplex {
  const secure = url.protocol === "https:";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || (secure ? 443 : 80));
  const socket = secure
    ? tls.connect({
        host,
        port,
        servername: net.isIP(host) ? undefined : host,
        ALPNProtocols: ["h2"],
      })
    : net.connect({ host, port });
  const timer = setTimeout(() => {
    const err = Object.assign(new Error(`connect ETIMEDOUT ${host}:${port}`), {
      code: "ETIMEDOUT",
    });
    socket.destroy(err);
  }, connectTimeoutMs);
  timer.unref();
  socket.once(secure ? "secureConnect" : "connect", () => clearTimeout(timer));
  socket.once("close", () => clearTimeout(timer));
  return socket;
}

export function createCoordinatorTransport(
  options: CoordinatorTransportOptions,
): CoordinatorTransport {
  const url = new URL(options.url);
  const sessionManager = new Http2SessionManager(
    url,
    { pingIntervalMs: options.pingIntervalMs, pingTimeoutMs: options.pingIntervalMs },
    { createConnection: () => timedSocket(url, options.connectTimeoutMs) },
  );
  const transport = createGrpcTransport({
    baseUrl: options.url,
    sessionManager,
    interceptors: options.token ? [bearer(options.token)] : [],
  });
  return { transport, close: () => sessionManager.abort() };
}
