"""The test-only shim of infra/gcs_tf.py against a real fake-gcs-server: why it exists and what it changes.

No namespace here: the shim listens on a free loopback port and the client sets the TLS server name itself.
"""
from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from infra.gcs_tf import GOOGLE_HOSTS, FramingShim, make_tls, with_content_ids
from infra.procs import free_port

pytest_plugins = ["gcs"]  # tests/gcs.py: gcs_emulator

BATCH = ("--BB\nContent-Type: application/http\n\n"
         "POST /storage/v1/b/skyhawk-test/o/{src}/copyTo/b/skyhawk-test/o/{dst} HTTP/1.1\n"
         "Content-Type: application/json\nContent-Length: 2\n\n{{}}\n--BB--\n")


def _request(sock: socket.socket, head: str, body: bytes = b"") -> tuple[int, bytes]:
    sock.settimeout(30)  # a server that never answers fails the test instead of hanging it
    sock.sendall(head.encode() + b"\r\n" + body)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    headers, _, rest = data.partition(b"\r\n\r\n")
    length = next((int(h.split(b":")[1]) for h in headers.split(b"\r\n") if h.lower().startswith(b"content-length")),
                  0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-response"
        rest += chunk
    return int(headers.split()[1]), rest


@pytest.fixture
def shim(gcs_emulator, tmp_path: Path):
    tls = make_tls(str(tmp_path))
    server = FramingShim(free_port("127.0.0.1"), tls["cert"], tls["key"], ("127.0.0.1", gcs_emulator.port))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ctx = ssl.create_default_context(cafile=tls["ca"])

    def connect() -> socket.socket:  # verified against the throwaway CA under Google's host name
        return ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.server_address[1])),
                               server_hostname=GOOGLE_HOSTS[0])

    yield connect
    server.shutdown()
    server.server_close()


def test_identity_transfer_encoding_is_refused_by_the_emulator_and_passed_by_the_shim(gcs_emulator, shim):
    head = ("POST /upload/storage/v1/b/skyhawk-test/o?uploadType=media&name=marker%2F HTTP/1.1\r\n"
            f"Host: {GOOGLE_HOSTS[0]}\r\nContent-Length: 0\r\nTransfer-Encoding: identity\r\n")
    with socket.create_connection(("127.0.0.1", gcs_emulator.port)) as direct:
        status, body = _request(direct, head)
    assert status == 501 and b"nsupported transfer encoding" in body  # what TensorFlow's writes got
    with shim() as sock:
        status, body = _request(sock, head)
    assert status == 200 and b'"name":"marker/"' in body


def test_chunked_upload_is_stored_whole(gcs_emulator, shim):
    head = ("POST /upload/storage/v1/b/skyhawk-test/o?uploadType=media&name=chunked HTTP/1.1\r\n"
            f"Host: {GOOGLE_HOSTS[0]}\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n")
    with shim() as sock:
        status, body = _request(sock, head, b"4\r\nabcd\r\n5\r\nefghi\r\n0\r\n\r\n")
    assert status == 200 and b'"size":"9"' in body
    with shim() as sock:
        status, body = _request(sock, f"GET /skyhawk-test/chunked HTTP/1.1\r\nHost: {GOOGLE_HOSTS[1]}\r\n")
    assert status == 200 and body == b"abcdefghi"


def test_batch_parts_without_content_id(gcs_emulator, shim):
    with socket.create_connection(("127.0.0.1", gcs_emulator.port)) as sock:
        _request(sock, "POST /upload/storage/v1/b/skyhawk-test/o?uploadType=media&name=src HTTP/1.1\r\n"
                       "Host: x\r\nContent-Length: 3\r\n", b"abc")
    body = BATCH.format(src="src", dst="copy1").encode()
    head = (f"POST /batch/storage/v1 HTTP/1.1\r\nHost: {GOOGLE_HOSTS[0]}\r\n"
            f"Content-Type: multipart/mixed; boundary=BB\r\nContent-Length: {len(body)}\r\n")
    with socket.create_connection(("127.0.0.1", gcs_emulator.port)) as direct:
        status, reply = _request(direct, head, body)
    assert status == 200 and b"copy1" not in reply  # the emulator skipped the part: nothing copied
    body = BATCH.format(src="src", dst="copy2").encode()
    with shim() as sock:
        status, reply = _request(sock, head, body)
    assert status == 200 and b'"name":"copy2"' in reply


def test_with_content_ids_numbers_only_parts_without_one():
    body = b"--X\nContent-Type: application/http\n\nGET /a HTTP/1.1\n\n\n--X\nContent-ID: <mine>\n\nB\n--X--\n"
    out = with_content_ids(body, 'multipart/mixed; boundary="X"')
    assert out.count(b"Content-ID:") == 2 and b"Content-ID: <mine>" in out
    assert out.replace(b"Content-ID: <skyhawk-1>\n", b"") == body
    assert with_content_ids(body, "application/json") == body
