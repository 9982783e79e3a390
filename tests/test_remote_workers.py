"""Beam on remote workers, tested as separate hosts: the job service (and the submitting driver) in one
network namespace, an EXTERNAL SDK worker pool in another, talking over a veth pair (infra/netns.py).

Extraction and bulk scoring run through them and must give what the DirectRunner gives; then the worker
pool is killed mid-run: the job fails with a clear error, and a re-run completes with nothing duplicated.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from components.score import commit as out
from infra import netns
from infra.beam import service_env

pytest_plugins = ["score_model"]

pytestmark = pytest.mark.e2e

JOB_SERVICE = "apache_beam.runners.portability.local_job_service_main"
WORKER_POOL = "apache_beam.runners.worker.worker_pool_main"
SKYHAWK = str(Path(sys.executable).with_name("skyhawk"))
JOB_PORT, POOL_PORT = 18099, 18100
VIDEOS = [
    "real_videos/AliaksandrSiarohin__first-order-model__demo_old__00.mp4",
    "real_videos/KwaiVGI__LivePortrait__assets__examples__driving__d0.mp4",
    "dev_videos/fake/dfl__Albica_Johns_0__right_fake.mp4",
    "dev_videos/real/dfl__Albica_Johns_0__left_real.mp4",
]


def _wait_port(hosts: netns.TestHosts, host: str, addr: str, port: int, proc: subprocess.Popen, log: Path,
               timeout: float = 90) -> None:
    probe = f"import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(({addr!r}, {port})))"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{log.name} exited {proc.returncode}: {log.read_text()[-2000:]}")
        if subprocess.run(hosts.cmd(host, [sys.executable, "-c", probe])).returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{log.name} not listening on {addr}:{port}: {log.read_text()[-2000:]}")


def _start(hosts: netns.TestHosts, host: str, argv: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(hosts.cmd(host, argv), stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=service_env(), start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[netns.TestHosts, dict]]:
    why = netns.unavailable()
    if why:
        pytest.skip(f"no network namespaces here: {why}")
    logs = tmp_path_factory.mktemp("cluster-logs")
    with netns.TestHosts(["jobs", "workers"]) as hosts:
        jobs = _start(hosts, "jobs", [sys.executable, "-m", JOB_SERVICE, f"--port={JOB_PORT}"], logs / "jobs.log")
        state = {"jobs": jobs, "logs": logs}
        state["pool"] = start_pool(hosts, logs)
        try:
            _wait_port(hosts, "jobs", "localhost", JOB_PORT, jobs, logs / "jobs.log")
            yield hosts, state
        finally:
            _kill(state["pool"])
            _kill(jobs)


def start_pool(hosts: netns.TestHosts, logs: Path) -> subprocess.Popen:
    pool = _start(hosts, "workers", [sys.executable, "-m", WORKER_POOL, f"--service_port={POOL_PORT}"],
                  logs / "pool.log")
    _wait_port(hosts, "jobs", hosts.address("workers"), POOL_PORT, pool, logs / "pool.log")
    return pool


def portable(hosts: netns.TestHosts) -> list[str]:
    return [f"--beam-arg={a}" for a in ("--runner=PortableRunner", f"--job_endpoint=localhost:{JOB_PORT}",
                                        "--environment_type=EXTERNAL",
                                        f"--environment_config={hosts.address('workers')}:{POOL_PORT}")]


def run_in(hosts: netns.TestHosts, host: str, argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(hosts.cmd(host, argv), capture_output=True, text=True, env=service_env(), timeout=timeout)


@pytest.fixture(scope="module")
def archive(tmp_path_factory, shared_media: Path) -> Path:
    root = tmp_path_factory.mktemp("remote-archive")
    for label in ("real", "fake"):
        (root / label).mkdir()
    for i, rel in enumerate(VIDEOS):
        (root / ("real" if i % 2 == 0 else "fake") / Path(rel).name).symlink_to(shared_media / rel)
    (root / "real" / "zero.mp4").write_bytes(b"")
    return root


def _examples(out_dir: Path) -> list[tuple]:
    import tensorflow as tf

    from skyhawk import features

    rows = []
    for path in sorted(out_dir.glob("Split-*/*.gz")):
        for raw in tf.data.TFRecordDataset(str(path), compression_type="GZIP"):
            ex = tf.io.parse_single_example(raw, features.parse_spec())
            rows.append((path.parent.name, ex[features.VIDEO_ID].numpy().decode(), int(ex[features.FRAME_INDEX]),
                         int(ex[features.LABEL])))
    return sorted(rows)


def test_extraction_on_remote_workers_matches_direct_runner(cluster, archive: Path, tmp_path: Path):
    hosts, _ = cluster
    common = ["extract", "--input", str(archive), "--frames", "3", "--image-size", "64", "--eval-fraction", "0.5"]
    direct = subprocess.run([SKYHAWK, *common, "--output", str(tmp_path / "direct"), "--workers", "1"],
                            capture_output=True, text=True, env=service_env())
    assert direct.returncode == 0, direct.stderr[-3000:]
    remote = run_in(hosts, "jobs", [SKYHAWK, *common, "--output", str(tmp_path / "remote"), *portable(hosts)])
    assert remote.returncode == 0, remote.stderr[-3000:]
    got, want = _examples(tmp_path / "remote"), _examples(tmp_path / "direct")
    assert got == want and len(got) >= 9


def test_scoring_on_remote_workers_then_pool_killed_mid_run(cluster, archive: Path, test_model, tmp_path: Path):
    hosts, state = cluster
    score = ["score", "--input", str(archive), "--model", test_model.saved_model, "--frames", "4"]
    direct = subprocess.run([SKYHAWK, *score, "--output", str(tmp_path / "direct")], capture_output=True,
                            text=True, env=service_env())
    assert direct.returncode == 0, direct.stderr[-3000:]
    remote = run_in(hosts, "jobs", [SKYHAWK, *score, "--output", str(tmp_path / "remote"), *portable(hosts)])
    assert remote.returncode == 0, remote.stderr[-3000:]

    def rows(d: Path) -> list[tuple]:
        return sorted((r["uri"], r["status"], r["p_fake"], r["verdict"], json.dumps(r["top_frames"]))
                      for r in map(json.loads, (d / "results.jsonl").read_text().splitlines()))

    assert rows(tmp_path / "remote") == rows(tmp_path / "direct") and len(rows(tmp_path / "direct")) == 5

    # kill the worker pool (and the SDK workers it started) once the job is running on it
    dest = tmp_path / "killed"
    proc = subprocess.Popen(hosts.cmd("jobs", [SKYHAWK, *score, "--frames", "32", "--output", str(dest),
                                               *portable(hosts)]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=service_env())
    pool_log = state["logs"] / "pool.log"
    seen = pool_log.stat().st_size
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if "skyhawk score:" in pool_log.read_text()[seen:]:  # a worker is scoring videos
            break
        time.sleep(0.2)
    _kill(state["pool"])
    try:
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        state["pool"] = start_pool(hosts, state["logs"])
    assert proc.returncode not in (0, None), output[-3000:]
    assert "skyhawk score: error:" in output, output[-3000:]
    again = run_in(hosts, "jobs", [SKYHAWK, *score, "--frames", "32", "--output", str(dest), *portable(hosts)])
    assert again.returncode == 0, again.stderr[-3000:]
    final = [json.loads(line) for line in (dest / "results.jsonl").read_text().splitlines()]
    assert sorted(r["uri"] for r in final) == sorted({r["uri"] for r in final}) and len(final) == 5
    committed = [json.loads(line) for p in sorted((dest / out.PARTS_DIR).glob("*.jsonl"))
                 for line in p.read_text().splitlines()]
    assert len({c["key"] for c in committed}) == 5
