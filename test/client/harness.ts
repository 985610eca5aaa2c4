/**
 * A real coordinator for the client tests (test/support's startTestCoordinator: in this
 * process, loopback, GPUs local/0 24576 MiB and local/1 8192 MiB), plus raw
 * clients to look at its state (what the server sees is the ground truth of "released").
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ClusterService } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { LeaseService } from "../../gen/ts/cforch/v1/lease_pb.js";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { startTestCoordinator } from "../support/coordinator.js";

export interface Harness {
  readonly server: RunningCoordinator;
  readonly url: string;
  readonly cluster: Client<typeof ClusterService>;
  readonly leases: Client<typeof LeaseService>;
  /** Live leases on the server (optionally of one holder). */
  liveLeases(holderId?: string): Promise<number>;
  /** Waiting requests on the server. */
  queueLength(): Promise<number>;
  close(): Promise<void>;
}

export const GPU0 = "local/0"; // 24576 MiB
export const GPU1 = "local/1"; // 8192 MiB

export async function startHarness(port = 0): Promise<Harness> {
  const server = await startTestCoordinator({ port, checkpointDeadlineMs: 10_000 });
  const transport = createGrpcTransport({ baseUrl: server.url });
  const cluster = createClient(ClusterService, transport);
  const leases = createClient(LeaseService, transport);
  return {
    server,
    url: server.url,
    cluster,
    leases,
    liveLeases: async (holderId) =>
      (await leases.listLeases({ holderId: holderId ?? "" })).leases.length,
    queueLength: async () => (await cluster.getStatus({})).queue.length,
    close: () => server.close(),
  };
}
