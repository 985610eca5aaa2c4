"""Starts a real coordinator (the `cf-orch coordinator` CLI) on a free loopback port."""
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "gen" / "python"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

CONFIG = """\
host: 127.0.0.1
port: 0
gpus:
  - node: local
    index: 0
    name: NVIDIA GeForce RTX 4090
    capacity_mb: 24576
  - node: local
    index: 1
    name: NVIDIA GeForce RTX 4060
    capacity_mb: 8192
"""


class Coordinator:
    def __init__(self, process: subprocess.Popen, port: int, lines: list):
        self.process = process
        self.port = port
        self.target = f"127.0.0.1:{port}"
        self.lines = lines


@pytest.fixture()
def coordinator():
    with tempfile.TemporaryDirectory() as tmp:
        config = pathlib.Path(tmp) / "config.yaml"
        config.write_text(CONFIG)
        env = dict(os.environ, CF_ORCH_DATA_DIR=str(pathlib.Path(tmp) / "data"))
        process = subprocess.Popen(
            ["node", str(ROOT / "bin" / "cf-orch.js"), "coordinator", "--config", str(config), "--port", "0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        lines: list = []
        found = threading.Event()
        port_box: list = []

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
                if match and not port_box:
                    port_box.append(int(match.group(1)))
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 30
        while not found.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                break
        if not found.is_set():
            process.kill()
            time.sleep(0.1)  # let the pump collect the last lines
            raise RuntimeError("coordinator did not start:\n" + "".join(lines))
        try:
            yield Coordinator(process, port_box[0], lines)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
