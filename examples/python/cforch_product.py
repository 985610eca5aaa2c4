"""A small cf-orch "product" in Python, built only on the generated stubs and grpcio.

It shows the whole lease life cycle a real product goes through:
  1. wait for a lease on the Acquire server stream, printing queue positions;
  2. keep it alive with KeepAlive (every TTL/3) while working;
  3. optionally register it as evictable on an EvictionService session and
     checkpoint when the coordinator asks (then resume when re-granted);
  4. release it, on every exit path.

Run it:  python cforch_product.py --target 127.0.0.1:7700 --vram-mb 4096 --work-seconds 5
(the stubs are found in ../../gen/python; set PYTHONPATH yourself when copying this file).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import queue
import sys
import threading
import time
import uuid
from typing import Callable, Iterator, Optional

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "gen" / "python"))

import grpc  # noqa: E402
from cforch.v1 import common_pb2, eviction_pb2, eviction_pb2_grpc  # noqa: E402
from cforch.v1 import lease_pb2, lease_pb2_grpc  # noqa: E402

PRIORITIES = {
    "batch": common_pb2.PRIORITY_CLASS_BATCH,
    "low": common_pb2.PRIORITY_CLASS_LOW,
    "normal": common_pb2.PRIORITY_CLASS_NORMAL,
    "high": common_pb2.PRIORITY_CLASS_HIGH,
    "critical": common_pb2.PRIORITY_CLASS_CRITICAL,
}


def log(*parts: object) -> None:
    print(*parts, flush=True)


class EvictionSession:
    """One bidirectional EvictionService session for this process (§3)."""

    def __init__(
        self,
        channel: grpc.Channel,
        holder_id: str,
        service: str,
        on_checkpoint: Callable[[str], None],
        on_resume: Callable[[lease_pb2.Lease], None],
    ) -> None:
        self._outbox: "queue.Queue[Optional[eviction_pb2.SessionRequest]]" = queue.Queue()
        self._on_checkpoint = on_checkpoint
        self._on_resume = on_resume
        self._closed = threading.Event()
        self.welcomed = threading.Event()
        self._heartbeat_s = 5.0
        self._outbox.put(
            eviction_pb2.SessionRequest(hello=eviction_pb2.Hello(holder_id=holder_id, service=service))
        )
        stub = eviction_pb2_grpc.EvictionServiceStub(channel)
        self._call = stub.Session(self._requests())
        threading.Thread(target=self._read, name="cforch-session", daemon=True).start()
        threading.Thread(target=self._heartbeat, name="cforch-heartbeat", daemon=True).start()

    def _requests(self) -> Iterator[eviction_pb2.SessionRequest]:
        while True:
            message = self._outbox.get()
            if message is None:
                return
            yield message

    def _read(self) -> None:
        try:
            for response in self._call:
                kind = response.WhichOneof("msg")
                if kind == "welcome":
                    self._heartbeat_s = max(0.05, response.welcome.heartbeat_interval_ms / 1000)
                    self.welcomed.set()
                elif kind == "checkpoint":
                    lease_id = response.checkpoint.lease_id
                    log(f"CHECKPOINT lease={lease_id} for={response.checkpoint.preemptor_request_id}")
                    try:
                        self._on_checkpoint(lease_id)
                    except Exception as error:  # refuse rather than lie about freed memory
                        self._send(refused=eviction_pb2.Refused(lease_id=lease_id, reason=str(error)))
                    else:
                        self._send(checkpointed=eviction_pb2.Checkpointed(lease_id=lease_id))
                elif kind == "resume":
                    log(f"RESUMED lease={response.resume.lease.lease_id} gpu={response.resume.lease.gpu_id}")
                    self._on_resume(response.resume.lease)
                elif kind == "error":
                    log(f"SESSION-ERROR {response.error.code}: {response.error.message}")
                elif kind == "lost":
                    log(f"LOST lease={response.lost.lease_id} reason={response.lost.reason}")
        except grpc.RpcError as error:
            if not self._closed.is_set():
                log(f"SESSION-ENDED {error.code().name}")

    def _heartbeat(self) -> None:
        self.welcomed.wait(10)
        while not self._closed.wait(self._heartbeat_s):
            self._send(heartbeat=eviction_pb2.Heartbeat())

    def _send(self, **message: object) -> None:
        if not self._closed.is_set():
            self._outbox.put(eviction_pb2.SessionRequest(**message))

    def register(self, lease_id: str) -> None:
        self._send(register=eviction_pb2.Register(lease_id=lease_id))

    def close(self) -> None:
        self._closed.set()
        self._outbox.put(None)
        self._call.cancel()


class Product:
    """A product that runs tasks under cf-orch leases."""

    def __init__(self, target: str, service: str, holder_id: Optional[str] = None) -> None:
        self.service = service
        self.holder_id = holder_id or f"{service}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.channel = grpc.insecure_channel(target)
        self.leases = lease_pb2_grpc.LeaseServiceStub(self.channel)
        self.session: Optional[EvictionSession] = None

    def acquire(
        self, vram_mb: int, priority: str = "normal", task_type: str = "demo", ttl_ms: int = 30000,
        timeout_s: Optional[float] = None,
    ) -> lease_pb2.Lease:
        request = lease_pb2.AcquireRequest(
            request_id=str(uuid.uuid4()),
            holder_id=self.holder_id,
            ttl_ms=ttl_ms,
            slot=common_pb2.Slot(
                service=self.service, task_type=task_type, vram_mb=vram_mb, priority=PRIORITIES[priority]
            ),
        )
        for update in self.leases.Acquire(request, timeout=timeout_s):
            if update.WhichOneof("event") == "queued":
                q = update.queued
                log(f"QUEUED position={q.position} reason={lease_pb2.WaitReason.Name(q.reason)} ({q.reason_text})")
            elif update.WhichOneof("event") == "granted":
                lease = update.granted
                log(f"GRANTED lease={lease.lease_id} gpu={lease.gpu_id} vram_mb={lease.vram_mb} token={lease.fencing_token}")
                return lease
        raise RuntimeError("Acquire stream ended without GRANTED")

    def keep_alive_until(self, lease: lease_pb2.Lease, done: threading.Event) -> threading.Thread:
        """Renews the lease every TTL/3 until done is set."""

        def loop() -> None:
            interval = max(0.05, lease.ttl_ms / 3000)
            while not done.wait(interval):
                try:
                    self.leases.KeepAlive(lease_pb2.KeepAliveRequest(lease_id=lease.lease_id), timeout=5)
                except grpc.RpcError as error:
                    if error.code() == grpc.StatusCode.NOT_FOUND:
                        log(f"LOST lease={lease.lease_id}")
                        return

        thread = threading.Thread(target=loop, name="cforch-keepalive", daemon=True)
        thread.start()
        return thread

    def make_evictable(
        self, lease: lease_pb2.Lease, on_checkpoint: Callable[[str], None],
        on_resume: Callable[[lease_pb2.Lease], None],
    ) -> None:
        if self.session is None:
            self.session = EvictionSession(self.channel, self.holder_id, self.service, on_checkpoint, on_resume)
            self.session.welcomed.wait(10)
        self.session.register(lease.lease_id)

    def release(self, lease: lease_pb2.Lease) -> None:
        answer = self.leases.Release(lease_pb2.ReleaseRequest(lease_id=lease.lease_id), timeout=10)
        log(f"RELEASED lease={lease.lease_id} released={answer.released}")

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        self.channel.close()


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=os.environ.get("CF_ORCH_TARGET", "127.0.0.1:7700"))
    parser.add_argument("--service", default="py-demo")
    parser.add_argument("--vram-mb", type=int, required=True)
    parser.add_argument("--priority", choices=sorted(PRIORITIES), default="normal")
    parser.add_argument("--work-seconds", type=float, default=1.0)
    parser.add_argument("--ttl-ms", type=int, default=30000)
    parser.add_argument("--evictable", action="store_true", help="checkpoint when asked")
    args = parser.parse_args(argv)

    product = Product(args.target, args.service)
    try:
        lease = product.acquire(args.vram_mb, args.priority, ttl_ms=args.ttl_ms)
        done = threading.Event()
        paused = threading.Event()
        resumed = threading.Event()
        product.keep_alive_until(lease, done)
        if args.evictable:
            def on_checkpoint(_lease_id: str) -> None:
                paused.set()  # a real product saves its state and frees GPU memory here

            def on_resume(_lease: lease_pb2.Lease) -> None:
                resumed.set()

            product.make_evictable(lease, on_checkpoint, on_resume)
            log(f"EVICTABLE lease={lease.lease_id}")
        try:
            deadline = time.monotonic() + args.work_seconds
            while time.monotonic() < deadline:
                if paused.is_set() and not resumed.is_set():
                    resumed.wait(max(0.0, deadline - time.monotonic()))
                    continue
                time.sleep(0.02)
        finally:
            done.set()
            product.release(lease)
    except grpc.RpcError as error:
        log(f"ERROR {error.code().name}: {error.details()}")
        return 1
    finally:
        product.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
