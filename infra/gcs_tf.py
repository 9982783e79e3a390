"""TensorFlow's own GCS client (``tf.io.gfile``, ``tf.data``, SavedModel) against the local GCS emulator.

TensorFlow's C++ GCS filesystem ignores ``STORAGE_EMULATOR_HOST``: it always calls
``https://www.googleapis.com/storage/v1/...``, ``https://www.googleapis.com/upload/storage/v1/...`` and
``https://storage.googleapis.com/<bucket>/<object>`` (see ``strings libtensorflow_framework.so.2``). It does honour
``CURL_CA_BUNDLE`` (a custom CA) and ``GOOGLE_AUTH_TOKEN_FOR_TESTING`` (a static bearer token, no OAuth), and it
resolves those host names with the normal resolver. So the emulator is reached by name, for real, inside a
network namespace of its own:

* ``/etc/netns/<ns>/hosts`` maps ``www.googleapis.com`` and ``storage.googleapis.com`` to 127.0.0.1 for every
  process ``ip netns exec`` starts there; the namespace has only a loopback interface, so nothing leaves it.
* A throwaway CA signs a certificate for those names (:func:`make_tls`); clients trust it via ``CURL_CA_BUNDLE``.
* fake-gcs-server (:class:`infra.gcs_emulator.GCSEmulator`) serves the GCS API on a loopback port; its default
  ``-public-host storage.googleapis.com`` serves TF's ``https://storage.googleapis.com/<bucket>/<object>`` reads,
  and it builds resumable-upload URLs from the request's ``Host`` and ``X-Forwarded-Proto``.
* google-cloud-storage and Beam's ``gs://`` reach it the same way (``STORAGE_EMULATOR_HOST=https://www.googleapis.com``
  for anonymous credentials, ``REQUESTS_CA_BUNDLE`` for the CA).

**TEST-ONLY SHIM** (:class:`FramingShim`): TLS on 127.0.0.1:443 in front of fake-gcs-server, for two HTTP-level
incompatibilities between Google's own clients and fake-gcs-server (both seen on this machine):

1. TensorFlow's libcurl (HTTP/1.1 only, no nghttp2) sends ``Transfer-Encoding: identity`` on every empty-body
   POST/PUT (folder marker, resumable-upload start, ``rewriteTo``), and Go's ``net/http`` (fake-gcs-server is
   built with Go 1.26) answers any transfer coding but ``chunked`` with ``501 Unsupported transfer encoding``
   before the server's code sees the request. Google's front ends accept it. The shim reads the body (plain, or
   ``chunked`` as TF's file uploads are) and forwards it with a ``Content-Length``.
2. Beam's file sinks finalise with ``copy_batch``/``delete_batch`` (GCS batch endpoint). google-cloud-storage's
   ``Batch`` sends parts without ``Content-ID``; fake-gcs-server silently skips such parts and answers an
   empty multipart ("Bad response: not multi-part"); real GCS needs none. The shim numbers those parts
   (:func:`with_content_ids`).

Everything else passes through unchanged (method, path, query, headers incl. ``Host``, body, the response), plus
``X-Forwarded-Proto: https`` as any TLS-terminating proxy adds. All storage semantics are fake-gcs-server's.

Use :class:`GCSNamespace` (root and ``ip`` needed; ``infra.netns.unavailable()`` says why not)::

    with GCSNamespace(bucket="skyhawk") as gns:
        subprocess.run(gns.cmd(["skyhawk", "run", "--config", "gs.json"]), env=gns.env(os.environ), check=True)

``python -m infra.gcs_tf serve --dir D --bucket B --ready-file F`` runs emulator + shim until SIGTERM;
GCSNamespace starts it inside the namespace. The CA's private key only lives in memory (nothing but the CA
certificate and the server's key pair is written, to the namespace's temp folder, deleted on exit).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import http.server
import json
import os
import re
import signal
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from infra import netns, procs

GOOGLE_HOSTS = ("www.googleapis.com", "storage.googleapis.com")
TEST_TOKEN = "skyhawk-emulator-token"  # GOOGLE_AUTH_TOKEN_FOR_TESTING: the emulator accepts any token
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


def make_tls(folder: str, hosts: tuple[str, ...] = GOOGLE_HOSTS) -> dict[str, str]:
    """A throwaway CA and a server certificate for ``hosts`` (valid 2 days); returns the PEM paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.timezone.utc)
    span = (now - _dt.timedelta(hours=1), now + _dt.timedelta(days=2))

    def cert(subject: str, key, issuer, issuer_key, ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(span[0]).not_valid_after(span[1])
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
        else:
            b = (b.add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
                 .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        return b.sign(issuer_key, hashes.SHA256())

    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "skyhawk test CA (throwaway)")])
    ca = cert("skyhawk test CA (throwaway)", ca_key, ca_name, ca_key, ca=True)
    srv = cert(hosts[0], srv_key, ca_name, ca_key, ca=False)
    paths = {"ca": os.path.join(folder, "ca.pem"), "cert": os.path.join(folder, "server.pem"),
             "key": os.path.join(folder, "server.key")}
    pem = serialization.Encoding.PEM
    Path(paths["ca"]).write_bytes(ca.public_bytes(pem))
    Path(paths["cert"]).write_bytes(srv.public_bytes(pem) + ca.public_bytes(pem))
    Path(paths["key"]).write_bytes(srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return paths


def with_content_ids(body: bytes, content_type: str) -> bytes:
    """A GCS batch body whose every part has a ``Content-ID`` (fake-gcs-server skips parts without one;
    google-cloud-storage's ``Batch`` sends none; real GCS needs none). Parts that have one are unchanged."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        return body
    sep = b"--" + m.group(1).encode()
    chunks = body.split(sep)
    for i in range(1, len(chunks)):
        part = chunks[i]
        if part.startswith(b"--"):  # the closing delimiter
            continue
        nl = b"\r\n" if part.startswith(b"\r\n") else b"\n"
        head = part.split(nl + nl, 1)[0]
        if not re.search(rb"(?im)^content-id:", head):
            chunks[i] = nl + b"Content-ID: <skyhawk-%d>" % i + part
    return sep.join(chunks)


class _ShimHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def _body(self) -> bytes | None:
        te = [v.strip().lower() for v in self.headers.get_all("Transfer-Encoding", [])]
        if te == ["chunked"]:  # TF's uploads: curl streams the file chunked (and also sends a Content-Length)
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(parts)
        if te not in ([], ["identity"]):
            raise ValueError(f"unsupported Transfer-Encoding {te}")
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else None

    def _forward(self) -> None:
        try:
            body = self._body()
        except ValueError as e:
            self.send_error(501, str(e))
            return
        if body and self.path.split("?")[0] == "/batch/storage/v1":
            body = with_content_ids(body, self.headers.get("Content-Type", ""))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"content-length", "expect"}}
        headers["X-Forwarded-Proto"] = "https"  # so the upload-session URLs it returns are https://<Host>/...
        up = http.client.HTTPConnection(*self.upstream, timeout=300)
        try:
            up.request(self.command, self.path, body=body, headers=headers)
            resp = up.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.send_error(502, f"fake-gcs-server: {type(e).__name__}: {e}")
            return
        finally:
            up.close()
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

    def log_message(self, fmt: str, *args: object) -> None:  # quiet: fake-gcs-server keeps the request log
        pass


class FramingShim(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """TEST-ONLY SHIM: TLS front for fake-gcs-server that re-frames TF's request bodies (``Transfer-Encoding:
    identity``/``chunked`` -> ``Content-Length``) and numbers batch parts (module docstring)."""

    daemon_threads = True

    def __init__(self, port: int, cert: str, key: str, upstream: tuple[str, int], host: str = "127.0.0.1"):
        handler = type("Handler", (_ShimHandler,), {"upstream": upstream})
        super().__init__((host, port), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.socket = ctx.wrap_socket(self.socket, server_side=True)

    def shutdown_requested(self) -> None:
        """Stop serve_forever from a signal handler (shutdown() itself would wait for the loop: deadlock)."""
        threading.Thread(target=self.shutdown).start()


def client_env(emulator_url: str, ca: str) -> dict[str, str]:
    """Env for processes inside the namespace: TF, google-cloud-storage and Beam all via the Google host names."""
    return {"STORAGE_EMULATOR_HOST": emulator_url, "GOOGLE_CLOUD_PROJECT": "skyhawk-local", "NO_GCE_CHECK": "True",
            "CURL_CA_BUNDLE": ca, "GOOGLE_AUTH_TOKEN_FOR_TESTING": TEST_TOKEN,
            "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca,
            # fail fast instead of TF's default 10 retries with backoff up to 32 s
            "GCS_RETRY_CONFIG_MAX_RETRIES": "3", "GCS_RETRY_CONFIG_MAX_DELAY_TIME_US": "2000000"}


class GCSNamespace:
    """A network namespace holding fake-gcs-server and the shim; ``cmd()`` runs argv inside it with ``env()``."""

    def __init__(self, bucket: str = "skyhawk", emulator_port: int = 4443):
        self.bucket = bucket
        self.emulator_port = emulator_port
        self.ns = f"skyhawk-{os.getpid()}-gcs"
        self.dir = ""
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None
        self._made = False
        self.tls: dict[str, str] = {}

    @property
    def emulator_url(self) -> str:
        """Where clients reach the emulator: through the shim by name, like TensorFlow does."""
        return "https://" + GOOGLE_HOSTS[0]

    def cmd(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        return {**(base if base is not None else os.environ), **client_env(self.emulator_url, self.tls["ca"])}

    def __enter__(self) -> GCSNamespace:
        why = netns.unavailable()
        if why:
            raise RuntimeError(why)
        self._tmp = tempfile.TemporaryDirectory(prefix="skyhawk-gcsns-")
        self.dir = self._tmp.name
        try:
            self.tls = make_tls(self.dir)
            netns.add_isolated(self.ns, {"127.0.0.1": ["localhost", *GOOGLE_HOSTS]})
            self._made = True
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        ready = os.path.join(self.dir, "ready")
        log = open(os.path.join(self.dir, "serve.log"), "wb")
        argv = [sys.executable, "-m", "infra.gcs_tf", "serve", "--dir", self.dir, "--bucket", self.bucket,
                "--emulator-port", str(self.emulator_port), "--ready-file", ready]
        root = str(Path(__file__).resolve().parents[1])
        self._proc = subprocess.Popen(self.cmd(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      cwd=root, env={**os.environ, "PYTHONPATH": root})
        log.close()
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = Path(self.dir, "serve.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"GCS emulator in namespace {self.ns} did not start: {tail}")
            time.sleep(0.1)

    def close(self) -> None:
        """Stops the servers, deletes the namespace, /etc/netns/<ns> and the temp folder."""
        if self._proc is not None:
            procs.stop_process(self._proc, timeout=10)
            self._proc = None
        if self._made:
            netns.kill_pids(self.ns)  # anything a client left running in there (we started all of it)
            netns.delete(self.ns)
            self._made = False
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(args: argparse.Namespace) -> int:
    """Inside the namespace: fake-gcs-server + shim on :443 until SIGTERM."""
    from infra.gcs_emulator import GCSEmulator

    emu = GCSEmulator(port=args.emulator_port, bucket=None, set_env=False)
    emu.start()
    shim = FramingShim(443, os.path.join(args.dir, "server.pem"), os.path.join(args.dir, "server.key"),
                       ("127.0.0.1", emu.port))
    signal.signal(signal.SIGTERM, lambda *_: shim.shutdown_requested())
    try:
        for b in args.bucket:
            emu.create_bucket(b)
        Path(args.ready_file).write_text(json.dumps({"emulator": emu.url}))
        shim.serve_forever(poll_interval=0.2)
    finally:
        shim.server_close()
        emu.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.gcs_tf")
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("serve", help="fake-gcs-server + the TLS shim on :443 (run inside a namespace)")
    s.add_argument("--dir", required=True, help="folder with server.pem/server.key (from make_tls)")
    s.add_argument("--bucket", action="append", default=[])
    s.add_argument("--emulator-port", type=int, default=4443)
    s.add_argument("--ready-file", required=True)
    args = p.parse_args(argv)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
