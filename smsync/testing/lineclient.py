"""A blocking CRLF line client over a plain socket, for what library clients cannot send:
malformed commands, pipelined batches, half a literal, a hang-up mid-command.

Protocol test suites subclass it with their protocol's framing (IMAP tagged responses,
POP3 multi-line answers, SMTP reply codes); run it in a thread (``servers.in_thread``)
while the reactor serves the server under test.
"""

from __future__ import annotations

import socket


class LineClient:
    """One connection to ``host:port``; reads the greeting line on connect.

    Attributes:
        sock: the socket (blocking, with ``timeout``).
        buf: bytes received but not yet returned as lines.
        greeting: the server's first line, without its CRLF.
    """

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        """Send ``data`` as it is (add the CRLF yourself)."""
        self.sock.sendall(data)

    def line(self) -> bytes:
        """The next line the server sent, without its CRLF; ``ConnectionError`` if the
        server closes the connection first, ``TimeoutError`` if nothing comes in time."""
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def closed(self) -> bool:
        """True once the server has closed the connection (reading and keeping whatever
        it still sends until then); False if it is still open when the timeout ends."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except ConnectionError:
            return True

    def close(self) -> None:
        """Close the client's end."""
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
