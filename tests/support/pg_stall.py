"""A loopback TCP proxy to PostgreSQL that relays the login and then stops answering: the
fault a client-side deadline exists for (pg_ping's and the auth audit's tests use it)."""

from __future__ import annotations

import socket
import struct
import threading


class StallingProxy:
    """A loopback TCP proxy to PostgreSQL that relays the login, then swallows the client's first
    query and keeps the connection open: a server that stops answering after login. TCP stays
    healthy (this proxy's kernel acknowledges everything), so only a client-side deadline helps."""

    _UNTYPED_REQUESTS = (80877103, 80877104)  # SSLRequest, GSSENCRequest: the startup message follows

    def __init__(self, upstream_port):
        self._upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.stalled = threading.Event()
        self._sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._listener.close()
        for sock in self._sockets:
            sock.close()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._upstream_port), timeout=5)
            server.settimeout(None)
            self._sockets += [client, server]
            threading.Thread(target=self._relay, args=(server, client), daemon=True).start()
            threading.Thread(target=self._relay_login, args=(client, server), daemon=True).start()

    @staticmethod
    def _relay(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    return
                sink.sendall(data)
        except OSError:
            return

    def _relay_login(self, client, server):
        """Forward the client's messages while they are the login (startup packet, password
        messages); from the first other message (a query) on, forward nothing."""
        buffer, typed = b"", False
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    return
                buffer += data
                while True:
                    if not typed:  # untyped: length, request code
                        if len(buffer) < 8 or len(buffer) < struct.unpack("!I", buffer[:4])[0]:
                            break
                        length, code = struct.unpack("!II", buffer[:8])
                        typed = code not in self._UNTYPED_REQUESTS
                    else:  # typed: kind byte, length
                        if len(buffer) < 5 or len(buffer) < 1 + struct.unpack("!I", buffer[1:5])[0]:
                            break
                        if buffer[:1] != b"p":
                            self.stalled.set()
                            while client.recv(65536):
                                pass
                            return
                        length = 1 + struct.unpack("!I", buffer[1:5])[0]
                    server.sendall(buffer[:length])
                    buffer = buffer[length:]
        except OSError:
            return
