"""Separate "hosts" on one machine for runner tests: Linux network namespaces joined by a veth pair.

    with TestHosts(["jobs", "workers"]) as hosts:
        subprocess.run(hosts.cmd("workers", ["python", "-m", ...]))   # runs inside that namespace
        hosts.address("workers")                                       # its address, e.g. 10.250.7.3

Each host gets its own network stack (loopback plus one interface on a private test subnet used only
inside these namespaces) and an ``/etc/hosts`` (``ip netns exec`` bind-mounts ``/etc/netns/<ns>/hosts``)
that maps this machine's hostname to the first host's address: Beam's job service tells EXTERNAL
workers to call back at ``socket.getfqdn()``, which must then reach the job service's namespace.
Everything is deleted on exit. Needs root and ``ip`` (iproute2); ``unavailable()`` says why not.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from typing import Sequence

NETNS_ETC = "/etc/netns"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None when they can)."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    name = f"skyhawk-probe-{os.getpid()}"
    try:
        _ip("netns", "add", name)
    except subprocess.CalledProcessError as e:
        return f"`ip netns add` failed: {e.stderr.strip()}"
    _ip("netns", "del", name)
    return None


class TestHosts:
    """Namespaces named ``skyhawk-<pid>-<host>``, the first joined to each other one by a veth pair."""

    def __init__(self, names: Sequence[str], subnet: str | None = None):
        if len(names) < 2:
            raise ValueError("need at least two hosts")
        self.names = list(names)
        self.subnet = subnet or f"10.250.{os.getpid() % 250}"
        self._tag = f"skyhawk-{os.getpid()}"
        self._made: list[str] = []

    def ns(self, host: str) -> str:
        return f"{self._tag}-{host}"

    def address(self, host: str) -> str:
        return f"{self.subnet}.{self.names.index(host) + 2}"

    def cmd(self, host: str, argv: Sequence[str]) -> list[str]:
        """argv run inside host's namespace."""
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def __enter__(self) -> TestHosts:
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> None:
        hostname = socket.gethostname()
        hub = self.names[0]
        for host in self.names:
            ns = self.ns(host)
            _ip("netns", "add", ns)
            self._made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            os.makedirs(os.path.join(NETNS_ETC, ns), exist_ok=True)
            with open(os.path.join(NETNS_ETC, ns, "hosts"), "w") as f:
                f.write(f"127.0.0.1 localhost\n{self.address(hub)} {hostname}\n")
        for i, host in enumerate(self.names[1:], start=1):
            a, b = f"sk{os.getpid() % 100000}a{i}", f"sk{os.getpid() % 100000}b{i}"  # <= 15 chars
            _ip("link", "add", a, "type", "veth", "peer", "name", b)
            _ip("link", "set", a, "netns", self.ns(hub))
            _ip("link", "set", b, "netns", self.ns(host))
            _ip("-n", self.ns(hub), "addr", "add", f"{self.address(hub)}/32", "dev", a)
            _ip("-n", self.ns(host), "addr", "add", f"{self.address(host)}/32", "dev", b)
            _ip("-n", self.ns(hub), "link", "set", a, "up")
            _ip("-n", self.ns(host), "link", "set", b, "up")
            _ip("-n", self.ns(hub), "route", "add", f"{self.address(host)}/32", "dev", a)
            _ip("-n", self.ns(host), "route", "add", f"{self.address(hub)}/32", "dev", b)

    def close(self) -> None:
        """Deletes the namespaces (their interfaces go with them) and their /etc/netns folders."""
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            shutil.rmtree(os.path.join(NETNS_ETC, ns), ignore_errors=True)
        self._made.clear()


def add_isolated(ns: str, hosts: dict[str, list[str]]) -> None:
    """A namespace with only loopback (nothing reaches outside it) and its own /etc/hosts (address -> names)."""
    _ip("netns", "add", ns)
    try:
        _ip("-n", ns, "link", "set", "lo", "up")
        os.makedirs(os.path.join(NETNS_ETC, ns), exist_ok=True)
        with open(os.path.join(NETNS_ETC, ns, "hosts"), "w") as f:
            f.writelines(f"{addr} {' '.join(names)}\n" for addr, names in hosts.items())
    except BaseException:
        delete(ns)
        raise


def delete(ns: str) -> None:
    """Deletes a namespace and its /etc/netns folder (missing is fine)."""
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    shutil.rmtree(os.path.join(NETNS_ETC, ns), ignore_errors=True)


def kill_pids(ns: str) -> None:
    """SIGKILLs the processes still inside namespace ns, by id (``ip netns pids``)."""
    found = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    for pid in found:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass
