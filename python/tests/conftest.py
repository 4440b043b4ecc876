"""Fixtures: a live registry (from the environment, else started here from the built binary),
a second one with tight limits, tokens, and a clean cache per test.

    TICKETBOOTH_TEST_URL, TICKETBOOTH_TEST_TOKEN   a running server and a token for it (test.sh)
    TICKETBOOTH_TEST_DATA_DIR                      its data dir (to make more tokens), optional
    TICKETBOOTH_BIN                                the binary (default: ../target/debug/ticketbooth)

Under CI=true a missing server, binary or torch fails instead of skipping.
"""
import os
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
CI = os.environ.get("CI", "").lower() == "true"


def need(condition, why):
    """Skip (or, under CI=true, fail) when something the test needs is missing."""
    if not condition:
        if CI:
            pytest.fail(f"CI=true and {why}")
        pytest.skip(why)


def binary():
    path = Path(os.environ.get("TICKETBOOTH_BIN", REPO / "target" / "debug" / "ticketbooth"))
    need(path.is_file(), f"no ticketbooth binary at {path} (cargo build, or set TICKETBOOTH_BIN)")
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A `ticketbooth serve` process on a fresh data dir."""

    def __init__(self, *extra):
        self.bin = binary()
        self.dir = tempfile.mkdtemp(prefix="tb-pytest-")
        self.url = f"http://127.0.0.1:{free_port()}"
        args = [str(self.bin), "serve", "--data-dir", self.dir, "--listen", self.url[len("http://"):], *extra]
        self.log = open(os.path.join(self.dir, "serve.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        for _ in range(100):
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"server did not start: {open(os.path.join(self.dir, 'serve.log')).read()[-2000:]}")

    def token(self, name="alice", *flags):
        return token_for(self.bin, self.dir, name, *flags)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def token_for(bin_path, data_dir, name, *flags):
    out = subprocess.run([str(bin_path), "token", "create", "--name", name, "--data-dir", str(data_dir), *flags],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture(scope="session")
def server():
    """(url, token, data_dir or None) of the main test registry."""
    url, token = os.environ.get("TICKETBOOTH_TEST_URL"), os.environ.get("TICKETBOOTH_TEST_TOKEN")
    if url and token:
        yield url.rstrip("/"), token, os.environ.get("TICKETBOOTH_TEST_DATA_DIR")
        return
    s = Server("--read-rate", "off", "--upload-rate", "off", "--result-rate", "off")
    try:
        yield s.url, s.token(), s.dir
    finally:
        s.stop()


@pytest.fixture(scope="session")
def limited():
    """A second registry: 1 upload per hour per user, files of at most 2 KiB."""
    s = Server("--read-rate", "off", "--upload-rate", "1/1h", "--max-upload-bytes", "2048")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def client(server, cache_dir, monkeypatch):
    import ticketbooth

    monkeypatch.setenv("TICKETBOOTH_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("TICKETBOOTH_OFFLINE", raising=False)
    url, token, _ = server
    return ticketbooth.Client(url, token, cache_dir=cache_dir)


@pytest.fixture
def unique():
    """A fresh slug, so tests share one registry without colliding."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def torch():
    try:
        import torch as t
    except ImportError:
        need(False, "torch is not installed (pip install './python[torch]')")
    t.set_num_threads(1)
    return t
