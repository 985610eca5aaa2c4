/** Failure classification on real errors produced inside jest (where realms differ). */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "../../gen/ts/grpc/health/v1/health_pb.js";
import { classifyFailure, codeName, toTypedError } from "../../client/rpc-errors.js";
import { InvalidSlotError, NotFittableError } from "../../client/errors.js";
import { closedPort } from "./helpers.js";

describe("classifyFailure", () => {
  test("connection refused on a real call is a connect failure", async () => {
    const port = await closedPort();
    const client = createClient(
      Health,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }),
    );
    const err = await client.check({}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    const failure = classifyFailure(err);
    expect(failure.kind).toBe("connect");
    expect(failure.errnos).toContain("ECONNREFUSED");
  });

  test("server statuses are fatal except UNAVAILABLE and DEADLINE_EXCEEDED", () => {
    expect(classifyFailure(new ConnectError("x", Code.Unavailable)).kind).toBe("transient");
    expect(classifyFailure(new ConnectError("x", Code.DeadlineExceeded)).kind).toBe("transient");
    expect(classifyFailure(new ConnectError("x", Code.NotFound)).kind).toBe("fatal");
    expect(classifyFailure(new ConnectError("x", Code.InvalidArgument)).kind).toBe("fatal");
    expect(
      classifyFailure(
        new ConnectError("http/2 stream closed with error code INTERNAL_ERROR", Code.Internal),
      ).kind,
    ).toBe("transient");
    // What connect-node reports (outside jest) when the coordinator is killed mid-stream.
    expect(
      classifyFailure(
        new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled),
      ).kind,
    ).toBe("transient");
    // A cancel the server chose (Release withdrew the request) stays final.
    expect(
      classifyFailure(new ConnectError("request r was withdrawn by Release", Code.Canceled)).kind,
    ).toBe("fatal");
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    expect(
      classifyFailure(new ConnectError("x", Code.Aborted, undefined, undefined, reset)).kind,
    ).toBe("transient");
  });

  test("typed errors from server answers", () => {
    expect(codeName(Code.FailedPrecondition)).toBe("FAILED_PRECONDITION");
    const invalid = toTypedError(
      new ConnectError("slot.vram_mb: must be 1 to 16777216", Code.InvalidArgument),
      "acquire",
    );
    expect(invalid).toBeInstanceOf(InvalidSlotError);
    expect((invalid as InvalidSlotError).field).toBe("slot.vram_mb");
    expect(
      toTypedError(new ConnectError("too big", Code.FailedPrecondition), "acquire"),
    ).toBeInstanceOf(NotFittableError);
    expect(toTypedError(new ConnectError("no gpu", Code.NotFound), "acquire").code).toBe(
      "NOT_FOUND",
    );
  });
});
