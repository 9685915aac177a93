"""Fault injectors on 127.0.0.1: a TCP proxy with failure modes and an HTTP front with bad replies.

``FaultProxy`` forwards TCP (so TLS passes through unchanged) to a peer and
can instead refuse service, accept and never respond, cut every connection
after a number of uploaded bytes, or hold the upload after that many bytes
until released. ``BadReplyFront`` is a plain-HTTP server that either
forwards to a plain-HTTP registry or responds with a chosen failure.
"""

import contextlib
import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import MARKER_PASSWORD

BUFFER_SIZE = 64 * 1024


def assert_no_marker(text, where):
    """Fail when TEXT contains the marker password, naming WHERE but never printing TEXT."""
    leaked = MARKER_PASSWORD in text
    assert not leaked, f"The marker password (<marker>) is in {where}."


class FaultProxy:
    """A TCP proxy from a free port of 127.0.0.1 to TARGET_PORT, with a switchable mode.

    Modes:

    - "forward": every byte is passed on.
    - "down": every connection is closed at once, like a stopped peer
      behind a load balancer that still accepts connections.
    - "silent": connections are accepted and never responded to.
    - "cut": bytes are passed on until LIMIT bytes went upstream. Then every
      connection is closed and the mode becomes "down".
    - "hold": bytes are passed on until LIMIT bytes went upstream. Then the
      upload stalls until ``release``.
    """

    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.mode = "forward"
        self.limit = 0
        self.uploaded = 0
        self.tripped = threading.Event()
        # Called once, from the proxy's thread, when "cut" or "hold" trips.
        self.on_trip = None
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._sockets = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="fault-proxy")
        self._thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def set_mode(self, mode, limit=0):
        with self._lock:
            self.mode = mode
            self.limit = limit
            self.uploaded = 0
            self.tripped.clear()
            self._released.clear()
        if mode in ("down", "silent"):
            self.close_connections()

    def release(self):
        self._released.set()

    def close_connections(self):
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self):
        self._released.set()
        self._listener.close()
        self.close_connections()

    def _track(self, sock):
        with self._lock:
            self._sockets.add(sock)

    def _accept_loop(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._track(client)
            if self.mode == "down":
                client.close()
                continue
            if self.mode == "silent":
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self._track(upstream)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, destination, upload):
        try:
            while True:
                data = source.recv(BUFFER_SIZE)
                if not data:
                    break
                if upload and self._count_upload(len(data)):
                    return
                destination.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                destination.shutdown(socket.SHUT_WR)

    def _count_upload(self, size):
        """Count SIZE uploaded bytes; return True when the connection must stop here."""
        with self._lock:
            self.uploaded += size
            mode = self.mode
            over = mode in ("cut", "hold") and self.uploaded > self.limit
            first_trip = over and not self.tripped.is_set()
            if over:
                self.tripped.set()
        if not over:
            return False
        if first_trip and self.on_trip is not None:
            self.on_trip()
        if mode == "cut":
            self.mode = "down"
            self.close_connections()
            return True
        self._released.wait()
        return False


class BadReplyFront:
    """Plain HTTP on a free port of 127.0.0.1: forwards to UPSTREAM_PORT, or responds with FAILURE.

    FAILURE is None (forward), "500" (a JSON server error) or "plain-403"
    (a text/plain 403, as some proxies send for an expired token).
    """

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.failure = None
        self.requests = 0
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def _handle(self):
                front.requests += 1
                if front.failure == "500":
                    self._reply(500, b'{"errors":[{"code":"UNKNOWN","message":"boom"}]}',
                                "application/json")
                elif front.failure == "plain-403":
                    self._reply(403, b"Forbidden: token expired\n", "text/plain")
                else:
                    self._forward()

            def _reply(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection("127.0.0.1", front.upstream_port, timeout=30)
                headers = {key: value for key, value in self.headers.items()
                           if key.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        self._server.shutdown()
        self._server.server_close()
