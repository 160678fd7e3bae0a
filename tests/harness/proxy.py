"""An HTTP CONNECT proxy on loopback for the tests of outgoing connections through a proxy (the
daemon's webhook_proxy, the client's https_proxy): it records every CONNECT target and splices
the two connections, nothing more. Bounded: every socket has a timeout, and stop() ends it."""

import socket
import threading


class ConnectProxy:
    def __init__(self, host="127.0.0.1"):
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self.url = f"http://{host}:{self._listener.getsockname()[1]}"
        self.targets = []  # "host:port" of every CONNECT, in order
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, client):
        client.settimeout(30)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            with self._lock:
                self.targets.append(target)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
        except (OSError, ValueError):
            client.close()
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)
        pipes = [threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                 for a, b in ((client, upstream), (upstream, client))]
        for p in pipes:
            p.start()
        for p in pipes:
            p.join(60)
        client.close()
        upstream.close()

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
