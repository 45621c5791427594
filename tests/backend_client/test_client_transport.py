"""CoreClient's HTTP transport against recording servers on 127.0.0.1: what goes on the wire, which
proxy and which certificates it trusts (read from the environment once), kept-alive connections,
and how every kind of answer maps to backend_client's errors."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from urllib3.exceptions import ProxySchemeUnknown
from werkzeug.serving import make_server

from backend_client import BackendError, BackendRejected, BackendUnavailable, CoreClient, NotFound
from common.logs import configure_logging
from stand_ins.core_service.testing import WsgiThread

LOOPBACK = ipaddress.ip_address("127.0.0.1")
PHONE = "+254722000111"
PIN = "5931"
NOT_FOUND = b'{"error": "citizen_not_found", "message": "none"}'
FEEDBACK = b'{"id": 1, "rating": 5, "service_code": "passport", "created_at": "2025-01-01T00:00:00+00:00"}'


class Recorder:
    """A WSGI app that records every request as it arrived (method, request target, query, headers,
    body) and answers each with the next of `answers` (status line, body), the
    last one repeating."""

    def __init__(self, *answers: tuple[str, bytes], headers: list[tuple[str, str]] | None = None) -> None:
        self.answers = list(answers) or [("404 Not Found", NOT_FOUND)]
        self.extra_headers = headers or []
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {
            name[5:].replace("_", "-").lower(): value
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        with self.lock:
            self.seen.append(
                {
                    "method": environ["REQUEST_METHOD"],
                    "target": environ.get("REQUEST_URI"),
                    "query": parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
                    "headers": headers,
                    "body": environ["wsgi.input"].read(length),
                }
            )
            status, body = self.answers[min(len(self.seen), len(self.answers)) - 1]
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *self.extra_headers],
        )
        return [body]


@pytest.fixture(autouse=True)
def no_proxy_or_bundle_from_the_machine(monkeypatch):
    """Each test sets the proxy and CA variables it is about; none comes from the developer's shell."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)


# ---- what goes on the wire ----------------------------------------------------------------------


def test_query_values_arrive_exactly_as_given():
    core = Recorder()
    tricky = "+254 7&phone=1/ü%"  # a '+' read back as a space would be another phone
    with WsgiThread(core) as server, CoreClient(server.url, max_attempts=1) as client:
        assert client.find_citizen(tricky) is None
    assert core.seen[0]["query"] == {"phone": [tricky]}
    assert core.seen[0]["method"] == "GET" and core.seen[0]["body"] == b""
    assert "content-type" not in core.seen[0]["headers"]


def test_debug_logs_do_not_carry_the_phone_number_of_a_lookup(caplog):
    """At LOG_LEVEL=DEBUG the HTTP library would log each request line, phone number included."""
    configure_logging("DEBUG")
    try:
        with (
            caplog.at_level(logging.DEBUG),
            WsgiThread(Recorder()) as server,
            CoreClient(server.url, max_attempts=1) as client,
        ):
            assert client.find_citizen(PHONE) is None
    finally:
        configure_logging("WARNING")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/citizens" not in logged  # nothing of the request line, encoded or not
    assert PHONE[1:] not in logged and "%2B254" not in logged


def test_a_write_sends_its_json_body_with_its_headers_and_the_same_bytes_on_a_retry():
    core = Recorder(("503 Service Unavailable", b'{"error": "unavailable"}'), ("201 Created", FEEDBACK))
    comment = "Asante sana — huduma nzuri ✓"
    with WsgiThread(core) as server, CoreClient(server.url, retry_backoff_s=0.01) as client:
        feedback = client.submit_feedback(
            phone=PHONE, rating=5, comment=comment, service_code="passport", idempotency_key="hop-7"
        )
    assert feedback.service_code == "passport"
    first, retry = core.seen
    assert json.loads(first["body"]) == {
        "phone": PHONE,
        "rating": 5,
        "comment": comment,
        "service_code": "passport",
    }
    assert retry["body"] == first["body"]
    for seen in (first, retry):
        assert seen["method"] == "POST" and seen["target"] == "/feedback"
        assert seen["headers"]["content-type"] == "application/json"
        assert seen["headers"]["idempotency-key"] == "hop-7"
        assert seen["headers"]["accept"] == "application/json"
        assert seen["headers"]["user-agent"] == "ussd-gateway-backend-client"


def test_a_body_that_is_not_json_is_refused_before_anything_is_sent():
    core = Recorder()
    with (
        WsgiThread(core) as server,
        CoreClient(server.url) as client,
        pytest.raises(BackendError) as refused,
    ):
        client.create_application(phone=PHONE, pin=PIN, service_code="passport", answers={"when": object()})
    assert (type(refused.value), refused.value.code) == (BackendError, "client_error")
    assert core.seen == []
    assert client.breaker.state == "closed"


@contextmanager
def keep_alive_server() -> Iterator[tuple[str, list[tuple[str, int]]]]:
    """An HTTP/1.1 server that keeps connections open (werkzeug's closes every one): its URL and
    the client address of every request, in order."""
    clients: list[tuple[str, int]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            clients.append(self.client_address)
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(NOT_FOUND)))
            self.end_headers()
            self.wfile.write(NOT_FOUND)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", clients
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_calls_share_one_kept_alive_connection_until_the_client_is_closed():
    with keep_alive_server() as (url, clients):
        client = CoreClient(url, max_attempts=1)
        client.find_citizen(PHONE)
        client.find_citizen(PHONE)  # after a 404: its body was read, the connection went back
        client.close()
        client.find_citizen(PHONE)
        client.close()
    first, second, after_close = clients
    assert first == second
    assert after_close != first


# ---- answers and failures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "requests"),
    [
        ("200 OK", b"<html>fine</html>", BackendUnavailable, "bad_response", 1),
        ("200 OK", b"", BackendUnavailable, "bad_response", 1),
        ("404 Not Found", b'{"error": "service_not_found"}', NotFound, "service_not_found", 1),
        ("418 I'm a teapot", b"<html>teapot</html>", BackendRejected, "http_418", 1),
        ("501 Not Implemented", b"", BackendUnavailable, "http_501", 1),
        ("503 Service Unavailable", b"", BackendUnavailable, "http_503", 3),
    ],
)
def test_every_kind_of_answer_maps_to_one_error(status, body, kind, code, requests):
    core = Recorder((status, body))
    with (
        WsgiThread(core) as server,
        CoreClient(server.url, retry_backoff_s=0.01) as client,
        pytest.raises(BackendError) as error,
    ):
        client.get_service("passport")
    assert (type(error.value), error.value.code, error.value.status) == (kind, code, int(status[:3]))
    assert len(core.seen) == requests


def test_a_redirect_is_not_followed_so_the_pin_goes_nowhere_else():
    """A core (or something posing as it) answering 307 would have a client that follows redirects
    post the phone and PIN again, to wherever the Location points."""
    elsewhere = Recorder(("200 OK", b'{"citizen": {}}'))
    with WsgiThread(elsewhere) as thief:
        core = Recorder(("307 Temporary Redirect", b"{}"), headers=[("Location", f"{thief.url}/collect")])
        with (
            WsgiThread(core) as server,
            CoreClient(server.url) as client,
            pytest.raises(BackendUnavailable) as error,
        ):
            client.verify_pin(PHONE, PIN)
    assert (error.value.code, error.value.status) == ("bad_response", 307)
    assert len(core.seen) == 1
    assert elsewhere.seen == []


def test_an_answer_slower_than_the_call_timeout_is_a_timeout():
    release = threading.Event()

    def slow(environ, start_response):
        release.wait(5)
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [NOT_FOUND]

    with WsgiThread(slow) as server, CoreClient(server.url, per_call_timeout_s=0.2, max_attempts=1) as client:
        try:
            with pytest.raises(BackendUnavailable) as error:
                client.find_citizen(PHONE)
        finally:
            release.set()
    assert error.value.code == "timeout"


# ---- proxies, read once -------------------------------------------------------------------------


def test_a_proxy_in_the_environment_is_used_and_read_once(monkeypatch):
    proxy = Recorder()
    with WsgiThread(proxy) as stand_in:
        monkeypatch.setenv("HTTP_PROXY", stand_in.url)
        client = CoreClient("http://core.invalid", max_attempts=1)
        assert client.find_citizen("+254711000001") is None  # answered by the proxy
        assert proxy.seen[0]["target"].startswith("http://core.invalid/citizens?phone=")

        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        assert client.find_citizen("+254711000002") is None
        assert len(proxy.seen) == 2
        client.close()


@pytest.mark.parametrize(
    ("no_proxy", "through_the_proxy"),
    [(None, True), ("example.org", True), ("127.0.0.1", False), ("127.0.0.0/8", False)],
)
def test_no_proxy_sends_the_core_s_calls_direct(monkeypatch, no_proxy, through_the_proxy):
    proxy, core = Recorder(), Recorder()
    with WsgiThread(proxy) as proxy_server, WsgiThread(core) as core_server:
        monkeypatch.setenv("HTTP_PROXY", proxy_server.url)
        if no_proxy:
            monkeypatch.setenv("NO_PROXY", no_proxy)
        with CoreClient(core_server.url, max_attempts=1) as client:
            assert client.find_citizen(PHONE) is None
    assert (len(proxy.seen), len(core.seen)) == ((1, 0) if through_the_proxy else (0, 1))


def test_a_proxy_s_credentials_in_its_url_are_sent_to_it(monkeypatch):
    proxy = Recorder()
    with WsgiThread(proxy) as stand_in:
        monkeypatch.setenv("HTTP_PROXY", f"http://gateway:p%40ss@127.0.0.1:{stand_in.port}")
        with CoreClient("http://core.invalid", max_attempts=1) as client:
            assert client.find_citizen(PHONE) is None
    credentials = base64.b64encode(b"gateway:p@ss").decode()
    assert proxy.seen[0]["headers"]["proxy-authorization"] == f"Basic {credentials}"


def test_a_socks_proxy_stops_the_client_being_built(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    with pytest.raises(ProxySchemeUnknown):
        CoreClient("http://core.invalid")


# ---- HTTPS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for 127.0.0.1, its key): a CA nobody else trusts."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "backend_client test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@contextmanager
def https_server(app: Any, certificate: Path, key: Path) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_an_https_core_must_show_a_certificate_the_client_trusts(monkeypatch, certificates, variable):
    """A man in the middle whose certificate no trusted CA signed gets no request, so no PIN; the CA
    bundle named in the environment when the client is built is trusted."""
    ca, certificate, key = certificates
    core = Recorder()
    with https_server(core, certificate, key) as url:
        with CoreClient(url, max_attempts=1) as untrusting, pytest.raises(BackendUnavailable) as refused:
            untrusting.verify_pin(PHONE, PIN)
        assert refused.value.code == "connection_error"
        assert core.seen == []

        monkeypatch.setenv(variable, str(ca))
        with CoreClient(url, max_attempts=1) as trusting:
            monkeypatch.delenv(variable)  # read when the client was built
            assert trusting.find_citizen(PHONE) is None
    assert len(core.seen) == 1


@contextmanager
def tunnelling_proxy() -> Iterator[tuple[str, list[bytes]]]:
    """An HTTP proxy that only tunnels (CONNECT), as HTTPS through a proxy goes: its URL and the
    CONNECT request line of every tunnel it opened."""
    tunnels: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve(client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                head += client.recv(4096)
            line = head.split(b"\r\n", 1)[0]
            tunnels.append(line)
            host, port = line.split()[1].decode().rsplit(":", 1)
            with socket.create_connection((host, int(port))) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
                back.start()
                pipe(client, upstream)
                back.join(5)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _address = listener.accept()
                threading.Thread(target=serve, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", tunnels
    finally:
        listener.close()


def test_an_https_core_behind_a_proxy_is_reached_through_a_tunnel(monkeypatch, certificates):
    """The proxy sees only where the tunnel goes; the request itself, PIN included, is inside TLS
    with the core, whose certificate is still checked."""
    ca, certificate, key = certificates
    core = Recorder()
    with https_server(core, certificate, key) as url, tunnelling_proxy() as (proxy, tunnels):
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
        with CoreClient(url, max_attempts=1) as client:
            assert client.find_citizen(PHONE) is None
    assert [line.split()[:2] for line in tunnels] == [[b"CONNECT", url.removeprefix("https://").encode()]]
    assert core.seen[0]["target"].startswith("/citizens?phone=")
