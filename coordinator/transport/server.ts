/**
 * One TCP port, every protocol: gRPC (h2c), gRPC-Web and Connect over HTTP/1.1 and HTTP/2.
 *
 * Node's `http2.createServer({ allowHTTP1: true })` only falls back to HTTP/1.1 after TLS ALPN,
 * so on cleartext it cannot serve HTTP/1.1. Instead a plain `net.Server` accepts the
 * connection, peeks at the first bytes and hands the socket to an `http2` server when they
 * start the HTTP/2 client preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), otherwise to an
 * `http` server. The peeked bytes are pushed back with `socket.unshift`.
 *
 * Dead peers: connect-node never pings. Every `pingIntervalMs` each HTTP/2 session gets a
 * PING; a session whose PING fails or gets no answer within `pingTimeoutMs` is destroyed,
 * which aborts its streams (and so the handlers' signals), unless the socket received bytes
 * since the PING was sent (the peer is alive and our loop was slow to read the ack under load:
 * the timeout is re-armed instead). TCP keep-alive is enabled on every
 * socket as a second line of defence for HTTP/1.1.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Logger } from "pino";

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface TransportOptions {
  handler: RequestHandler;
  logger: Logger;
  /** Interval between HTTP/2 PINGs per session; 0 disables pinging. */
  pingIntervalMs: number;
  /** A PING unanswered this long kills its session. */
  pingTimeoutMs: number;
  /** TCP keep-alive initial delay. */
  tcpKeepAliveMs?: number;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** Bytes needed to decide: "PRI " is not a valid HTTP/1.1 method anyone sends. */
const DECIDE_BYTES = 4;
/** A connection that sends nothing for this long before we can classify it is dropped. */
const PEEK_TIMEOUT_MS = 30_000;

export class TransportServer {
  private readonly net: net.Server;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly pingTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private pingsInFlight = new WeakSet<http2.ServerHttp2Session>();

  constructor(private readonly opts: TransportOptions) {
    this.h1 = http.createServer(opts.handler as http.RequestListener);
    // Long-lived streams must not be cut by Node's default request timeouts.
    this.h1.requestTimeout = 0;
    this.h1.headersTimeout = 60_000;
    this.h1.keepAliveTimeout = 5_000;
    // Many waiting streams may share one connection (a client library multiplexing its
    // waiters): allow more session memory than Node's 10 MB default.
    this.h2 = http2.createServer(
      { maxSessionMemory: 64 },
      opts.handler as (...a: unknown[]) => void,
    );
    this.h2.on("session", (session) => this.trackSession(session));
    this.h2.on("sessionError", (err) => opts.logger.debug({ err }, "http2 session error"));
    this.h1.on("clientError", (err, socket) => {
      opts.logger.debug({ err: err.message }, "http/1.1 client error");
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      else socket.destroy();
    });
    this.net = net.createServer((socket) => this.accept(socket));
    this.net.on("error", (err) => opts.logger.error({ err }, "listener error"));
    if (opts.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.pingAll(), opts.pingIntervalMs);
      this.pingTimer.unref();
    }
  }

  listen(port: number, host: string): Promise<{ port: number; host: string }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.net.once("error", onError);
      this.net.listen(port, host, () => {
        this.net.off("error", onError);
        const addr = this.net.address() as net.AddressInfo;
        resolve({ port: addr.port, host: addr.address });
      });
    });
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Stop accepting new connections (existing ones keep working). */
  stopAccepting(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      if (!this.net.listening) return resolve();
      this.net.close(() => resolve());
    });
  }

  /**
   * Close everything: GOAWAY to HTTP/2 sessions, close idle HTTP/1.1 connections, and after
   * `graceMs` destroy whatever is still open.
   */
  async close(graceMs: number): Promise<void> {
    const stopped = this.stopAccepting();
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const session of this.sessions) {
      if (!session.closed && !session.destroyed) session.close();
    }
    this.h1.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      this.h1.closeIdleConnections();
    }
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
    this.h1.closeAllConnections();
    await stopped;
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    socket.on("error", (err) => this.opts.logger.debug({ err: err.message }, "socket error"));
    socket.setNoDelay(true);
    socket.setKeepAlive(true, this.opts.tcpKeepAliveMs ?? 10_000);

    const chunks: Buffer[] = [];
    let length = 0;
    const timer = setTimeout(() => socket.destroy(), PEEK_TIMEOUT_MS);
    timer.unref();
    const onEnd = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        length += chunk.length;
      }
      if (length < DECIDE_BYTES) {
        const head = Buffer.concat(chunks);
        // Keep waiting only while it could still be the preface.
        if (length === 0 || PREFACE.subarray(0, length).equals(head)) return;
      }
      socket.off("readable", onReadable);
      socket.off("end", onEnd);
      clearTimeout(timer);
      const head = Buffer.concat(chunks);
      socket.unshift(head);
      const isH2 =
        head.length >= DECIDE_BYTES &&
        PREFACE.subarray(0, DECIDE_BYTES).equals(head.subarray(0, DECIDE_BYTES));
      if (isH2) this.h2.emit("connection", socket);
      else this.h1.emit("connection", socket);
    };
    socket.on("readable", onReadable);
    socket.once("end", onEnd);
  }

  private trackSession(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.once("close", () => this.sessions.delete(session));
    session.on("error", (err) =>
      this.opts.logger.debug({ err: err.message }, "http2 session error"),
    );
    if (this.closing) session.close();
  }

  private pingAll(): void {
    for (const session of this.sessions) this.ping(session);
  }

  private ping(session: http2.ServerHttp2Session): void {
    if (session.closed || session.destroyed || this.pingsInFlight.has(session)) return;
    this.pingsInFlight.add(session);
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    // Bytes read from the peer so far: if more arrive before the PING times out, the peer is
    // alive and only our event loop was too busy to read the ack (overload): re-arm, not close.
    const bytesRead = (): number => session.socket?.bytesRead ?? 0;
    let readAtArm = bytesRead();
    const arm = () => {
      timer = setTimeout(() => {
        if (answered) return;
        // Timers run before the loop polls for I/O: let it read what has arrived first.
        setImmediate(() => {
          if (answered || session.closed || session.destroyed) return;
          const readNow = bytesRead();
          if (readNow !== readAtArm) {
            readAtArm = readNow;
            this.opts.logger.debug("http2 PING ack late but the peer is sending; waiting longer");
            arm();
            return;
          }
          this.opts.logger.info("http2 peer did not answer PING in time; closing its session");
          session.destroy();
        });
      }, this.opts.pingTimeoutMs);
      timer.unref();
    };
    arm();
    try {
      const sent = session.ping((err) => {
        answered = true;
        clearTimeout(timer);
        this.pingsInFlight.delete(session);
        if (err && !session.destroyed) {
          this.opts.logger.debug({ err: err.message }, "http2 PING failed; closing its session");
          session.destroy();
        }
      });
      if (!sent) {
        answered = true;
        clearTimeout(timer);
        this.pingsInFlight.delete(session);
      }
    } catch {
      answered = true;
      clearTimeout(timer);
      this.pingsInFlight.delete(session);
      session.destroy();
    }
  }
}
