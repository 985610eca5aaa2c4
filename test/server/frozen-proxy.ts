/**
 * A loopback TCP proxy that can be frozen: after freeze() bytes stop flowing both ways, with no
 * FIN and no RST, as when a network path dies or a peer's machine hangs. Both ends keep their
 * sockets open, so only timeouts (HTTP/2 PINGs, heartbeats, TTLs) can notice.
 */
import * as net from "node:net";

export interface FrozenProxy {
  /** The proxy's port on 127.0.0.1; connect here instead of the target. */
  readonly port: number;
  readonly frozen: boolean;
  /** Stop forwarding, silently, in both directions. */
  freeze(): void;
  /** Destroy every socket and stop listening. */
  close(): Promise<void>;
}

export async function startFrozenProxy(targetPort: number): Promise<FrozenProxy> {
  let frozen = false;
  const sockets: net.Socket[] = [];
  const proxy = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.push(client, upstream);
    client.on("data", (d) => !frozen && upstream.write(d));
    upstream.on("data", (d) => !frozen && client.write(d));
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  const port = (proxy.address() as net.AddressInfo).port;
  return {
    port,
    get frozen() {
      return frozen;
    },
    freeze: () => {
      frozen = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
    },
  };
}
