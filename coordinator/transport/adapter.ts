/**
 * Our variant of connect-node's `connectNodeAdapter` (same routing), with two differences:
 * - a request whose protobuf bytes cannot be decoded is bad input, so it is answered
 *   INVALID_ARGUMENT (connect-es answers INTERNAL "parse binary: ..."), for gRPC and Connect
 *   unary responses (gRPC-Web carries its status inside the body and keeps connect's answer);
 * - failures writing a response (a client that went away) go to the pino logger at debug
 *   level instead of console.error.
 */
import { Code, ConnectError, createConnectRouter, type ConnectRouter } from "@connectrpc/connect";
import type { ConnectRouterOptions } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
  type ConnectNodeAdapterOptions,
} from "@connectrpc/connect-node";
import type { Logger } from "pino";

type NodeHandler = ReturnType<typeof import("@connectrpc/connect-node").connectNodeAdapter>;

const PARSE_ERROR = "parse binary";

function isParseError(message: string | null): boolean {
  if (message === null) return false;
  try {
    return decodeURIComponent(message).startsWith(PARSE_ERROR);
  } catch {
    return false;
  }
}

/** gRPC: the status travels in trailers, set once the body has been produced. */
function fixGrpc(res: UniversalServerResponse): UniversalServerResponse {
  const trailer = res.trailer;
  const body = res.body;
  if (
    !trailer ||
    !body ||
    typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== "function"
  )
    return res;
  const fix = () => {
    if (
      trailer.get("grpc-status") === String(Code.Internal) &&
      isParseError(trailer.get("grpc-message"))
    ) {
      trailer.set("grpc-status", String(Code.InvalidArgument));
    }
  };
  const wrapped: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      yield* body as AsyncIterable<Uint8Array>;
      fix();
    },
  };
  fix(); // trailers-only responses
  return { ...res, body: wrapped };
}

/** Connect unary: an error is a JSON body with an HTTP status. */
async function fixConnectUnary(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (res.status !== 500 || res.trailer) return res;
  const type = res.header?.get("content-type") ?? "";
  if (!type.startsWith("application/json") || !res.body) return res;
  const chunks: Uint8Array[] = [];
  if (res.body instanceof Uint8Array) chunks.push(res.body);
  else for await (const c of res.body) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  try {
    const json = JSON.parse(bytes.toString("utf8")) as { code?: string; message?: string };
    if (
      json.code === "internal" &&
      typeof json.message === "string" &&
      json.message.startsWith(PARSE_ERROR)
    ) {
      const body = Buffer.from(JSON.stringify({ ...json, code: "invalid_argument" }));
      const header = new Headers(res.header);
      header.set("content-length", String(body.length));
      return { ...res, status: 400, header, body: once(new Uint8Array(body)) };
    }
  } catch {
    /* not ours to fix */
  }
  return { ...res, body: once(new Uint8Array(bytes)) };
}

function once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      yield bytes;
    },
  };
}

export interface AdapterOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  fallback: NonNullable<ConnectNodeAdapterOptions["fallback"]>;
  logger: Logger;
}

export function createNodeHandler(options: AdapterOptions): NodeHandler {
  const { routes, fallback, logger, ...routerOptions } = options;
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    ...routerOptions,
  });
  routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const uHandler = paths.get((req.url ?? "").split("?", 2)[0] ?? "");
    if (!uHandler) {
      fallback(req, res);
      return;
    }
    const uReq = universalRequestFromNodeRequest(req, res, undefined, undefined);
    uHandler(uReq)
      .then((uRes) => (uRes.trailer ? fixGrpc(uRes) : fixConnectUnary(uRes)))
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        const err = ConnectError.from(reason);
        if (err.code === Code.Aborted || err.code === Code.Canceled) return;
        logger.debug(
          { err: err.rawMessage, method: `${uHandler.service.typeName}/${uHandler.method.name}` },
          "writing a response failed (client gone?)",
        );
      });
  };
}
