"""Slow clients for the slowloris test: sockets that start a request and then only trickle it."""

from __future__ import annotations

import socket
import threading
import urllib.request


class SlowClients:
    """``headers`` slow-header connections and ``uploads`` slow upload bodies, kept trickling by a thread.

    Every ``interval_s`` each socket gets one more header line or body byte, at most ``max_ticks``
    times (the loop is bounded so the test always ends).
    """

    def __init__(self, host: str, port: int, *, headers: int, uploads: int, upload_path: str,
                 interval_s: float = 1.0, max_ticks: int = 300):
        self.interval_s, self.max_ticks = interval_s, max_ticks
        self.header_socks = [self._open(host, port, b"GET / HTTP/1.1\r\nHost: x\r\nX-a: b\r\n")
                             for _ in range(headers)]
        head = (f"POST {upload_path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: 10000000\r\n\r\n--b\r\n").encode()
        self.upload_socks = [self._open(host, port, head) for _ in range(uploads)]
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    @staticmethod
    def _open(host: str, port: int, first: bytes) -> socket.socket:
        sock = socket.create_connection((host, port))
        sock.sendall(first)
        return sock

    def _trickle(self) -> None:
        for _ in range(self.max_ticks):
            if self._stop.wait(self.interval_s):
                return
            for sock, more in [*((s, b"X-b: c\r\n") for s in self.header_socks),
                               *((s, b"x") for s in self.upload_socks)]:
                if sock.fileno() < 0:
                    continue
                try:
                    sock.sendall(more)
                except OSError:
                    self.closed_by_server += 1
                    sock.close()

    def open_count(self) -> int:
        return sum(1 for s in [*self.header_socks, *self.upload_socks] if s.fileno() >= 0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in [*self.header_socks, *self.upload_socks]:
            sock.close()


def healthz_answers(url: str, attempts: int, timeout_s: float) -> int:
    """How many of ``attempts`` GET /healthz got a 200 within ``timeout_s`` each."""
    answered = 0
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=timeout_s) as resp:
                answered += resp.status == 200
        except OSError:
            pass
    return answered
