"""The Python product, on generated stubs and grpcio only, against a real coordinator."""
import subprocess
import sys
import threading
import time
import pathlib

import grpc
import pytest

import cforch_product
from cforch.v1 import cluster_pb2, cluster_pb2_grpc, lease_pb2

HERE = pathlib.Path(__file__).resolve().parent


def status(target):
    with grpc.insecure_channel(target) as channel:
        return cluster_pb2_grpc.ClusterServiceStub(channel).GetStatus(cluster_pb2.GetStatusRequest(), timeout=10)


def wait_until(predicate, timeout_s=15.0, step_s=0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


def test_acquire_keep_alive_release(coordinator):
    product = cforch_product.Product(coordinator.target, "py-test")
    try:
        lease = product.acquire(4096, ttl_ms=1500)
        assert lease.vram_mb == 4096
        assert lease.gpu_id in {"local/0", "local/1"}
        done = threading.Event()
        product.keep_alive_until(lease, done)
        time.sleep(2.5)  # longer than the TTL: only the keep-alives hold it
        held = status(coordinator.target)
        assert [l.lease_id for l in held.leases] == [lease.lease_id]
        done.set()
        product.release(lease)
        assert list(status(coordinator.target).leases) == []
        # releasing twice is harmless
        again = product.leases.Release(lease_pb2.ReleaseRequest(lease_id=lease.lease_id), timeout=5)
        assert not again.released and again.already_released
    finally:
        product.close()


def test_waits_in_line_and_prints_queue_positions(coordinator):
    first = cforch_product.Product(coordinator.target, "py-first")
    try:
        big = first.acquire(24576)  # the whole 24 GB GPU
        cli = subprocess.Popen(
            [sys.executable, str(HERE / "cforch_product.py"), "--target", coordinator.target,
             "--service", "py-second", "--vram-mb", "20000", "--work-seconds", "0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert wait_until(lambda: len(status(coordinator.target).queue) == 1)
        first.release(big)
        out, _ = cli.communicate(timeout=30)
        assert cli.returncode == 0, out
        lines = [l.split()[0] for l in out.splitlines()]
        assert lines[0] == "QUEUED", out
        assert "position=1" in out.splitlines()[0]
        assert lines.index("GRANTED") > 0 and lines[-1] == "RELEASED", out
    finally:
        first.close()


def test_checkpoints_for_a_more_urgent_request_and_resumes(coordinator):
    low = cforch_product.Product(coordinator.target, "py-batch")
    high = cforch_product.Product(coordinator.target, "py-urgent")
    events = []
    resumed = threading.Event()
    try:
        victim = low.acquire(24576, priority="batch")
        low.make_evictable(victim, lambda lease_id: events.append(("checkpoint", lease_id)),
                           lambda lease: (events.append(("resume", lease.lease_id)), resumed.set()))
        assert wait_until(lambda: any(l.evictable for l in status(coordinator.target).leases))
        urgent = high.acquire(20000, priority="high", timeout_s=30)
        assert urgent.gpu_id == "local/0"
        assert events == [("checkpoint", victim.lease_id)]
        paused = [l for l in status(coordinator.target).leases if l.lease_id == victim.lease_id]
        assert paused and paused[0].state == lease_pb2.LEASE_STATE_PAUSED
        high.release(urgent)
        assert resumed.wait(15)
        assert events == [("checkpoint", victim.lease_id), ("resume", victim.lease_id)]
        low.release(victim)
    finally:
        high.close()
        low.close()
