/**
 * The HTTP/2 PING rule of the transport: a session whose PING is not answered within
 * pingTimeoutMs is closed, unless the socket received bytes since the PING was sent (the peer
 * is alive; under overload our event loop may simply not have read the ack yet), in which case
 * the timeout is re-armed. Two raw HTTP/2 peers that never answer the server's PINGs: one sends
 * nothing after the handshake (closed), one keeps sending PINGs of its own (kept).
 */
import * as net from "node:net";
import pino from "pino";
import { TransportServer } from "../../coordinator/transport/server.js";

jest.setTimeout(20_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** A frame header: 24-bit length, type, flags, 31-bit stream id. */
function frame(type: number, flags: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h.writeUInt8(type, 3);
  h.writeUInt8(flags, 4);
  h.writeUInt32BE(0, 5);
  return Buffer.concat([h, payload]);
}
const SETTINGS = frame(4, 0);
const SETTINGS_ACK = frame(4, 1);
/** A PING of the client's own (not an ack of the server's). */
const CLIENT_PING = frame(6, 0, Buffer.alloc(8, 7));

/** A raw HTTP/2 peer that never answers the server's PINGs; resolves once connected. */
function rawPeer(port: number): Promise<{ socket: net.Socket; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let isClosed = false;
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(Buffer.concat([PREFACE, SETTINGS, SETTINGS_ACK]));
      resolve({ socket, closed: () => isClosed });
    });
    socket.on("data", () => {}); // read (and ignore) whatever the server sends
    socket.on("error", () => {});
    socket.on("close", () => (isClosed = true));
    socket.once("error", reject);
  });
}

let server: TransportServer;
afterEach(async () => {
  await server?.close(100);
});

test("an unanswered PING closes a silent session but not one whose peer keeps sending", async () => {
  server = new TransportServer({
    handler: (_req, res) => res.end(),
    logger: pino({ level: "silent" }),
    pingIntervalMs: 100,
    pingTimeoutMs: 150,
  });
  const { port } = await server.listen(0, "127.0.0.1");
  const silent = await rawPeer(port);
  const chatty = await rawPeer(port);
  const chatter = setInterval(() => chatty.socket.write(CLIENT_PING), 30);
  try {
    const until = Date.now() + 3000;
    while (!silent.closed() && Date.now() < until) await sleep(20);
    expect(silent.closed()).toBe(true);
    // Several PING timeouts have passed for the chatty peer by now.
    await sleep(600);
    expect(chatty.closed()).toBe(false);
    expect(server.sessionCount).toBe(1);
  } finally {
    clearInterval(chatter);
    chatty.socket.destroy();
    silent.socket.destroy();
  }
});
