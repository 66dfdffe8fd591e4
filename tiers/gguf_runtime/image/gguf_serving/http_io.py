"""Socket reads of the SageMaker door: overall deadlines, strict body framing, chunked
bodies, and telling whether the caller has hung up.

A per-recv timeout does not stop a client that sends one byte just before each timeout
(slow loris): reads here run against an overall deadline for the request head and another
for the body. The body's framing is decided once, strictly (RFC 9112 section 6): a
message with both Transfer-Encoding and Content-Length, a coding other than chunked, or a
malformed length or chunk line is refused and the connection closed, so no part of a
body is ever read as the next request.
"""

from __future__ import annotations

import io
import select
import socket
import time
from dataclasses import dataclass
from email.message import Message

from .errors import LengthRequired, NotImplementedFraming, PayloadTooLarge, RequestError, RequestTimeout

MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions, or one trailer line
MAX_TRAILER_LINES = 64
MAX_LENGTH_DIGITS = 15
TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
HEX = frozenset("0123456789abcdefABCDEF")


class PeerClosed(Exception):
    """The connection ended in the middle of a request: there is no one to answer."""


class DeadlineSocketIO(io.RawIOBase):
    """A socket's reading side whose reads all end by ``deadline`` (time.monotonic())."""

    def __init__(self, sock: socket.socket):
        super().__init__()
        self._sock = sock
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - io.RawIOBase's signature
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the read deadline passed")
            self._sock.settimeout(remaining)
        else:
            self._sock.settimeout(None)
        return self._sock.recv_into(buffer)


def peer_closed(sock: socket.socket) -> bool:
    """True when the caller has closed the connection (or reset it). Never blocks.

    Data waiting on the socket (a pipelined request) means the caller is still there;
    an end-of-file with nothing before it means it has gone. A client that only shut
    down its sending side while it waits for the answer looks the same, and HTTP
    clients do not do that."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        events = poller.poll(0)
        if not events:
            return False
        if events[0][1] & (select.POLLERR | select.POLLHUP):
            return True
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@dataclass(frozen=True)
class Framing:
    kind: str  # "none", "length" or "chunked"
    length: int = 0


def check_header_names(headers: Message) -> None:
    """Every header line must parse as one field: "Transfer-Encoding : chunked" (a space
    before the colon) or a line folded onto the one before are read differently by
    different servers, the classic ways to smuggle a request (RFC 9112 sections 5.1, 5.2).
    Python's parser drops such a line, and every line after it, into a "payload"."""
    if headers.defects or headers.get_payload():
        raise RequestError("a header line is malformed (no field name, or whitespace before the colon); "
                           "refusing the request (RFC 9112 section 5.1)")
    for name, value in headers.items():
        if not name or any(c not in TOKEN_CHARS for c in name):
            raise RequestError(f"header name {name[:60]!r} is not a valid HTTP field name (RFC 9110 section 5.1)")
        if "\r" in value or "\n" in value:
            raise RequestError(f"header {name[:60]} is folded over several lines, which HTTP/1.1 requests may "
                               f"not do (RFC 9112 section 5.2)")


def body_framing(headers: Message, method: str) -> Framing:
    """How the body is delimited, decided once; anything ambiguous is refused."""
    encodings = headers.get_all("Transfer-Encoding") or []
    lengths = headers.get_all("Content-Length") or []
    if encodings:
        if lengths:
            raise RequestError("a request may not carry both Transfer-Encoding and Content-Length "
                               "(RFC 9112 section 6.3)")
        codings = [c.strip().lower() for value in encodings for c in value.split(",")]
        if codings != ["chunked"]:
            raise NotImplementedFraming(f"Transfer-Encoding {', '.join(encodings)[:80]!r} is not supported; "
                                        f"send the body with Content-Length or Transfer-Encoding: chunked")
        return Framing("chunked")
    if lengths:
        values = {v.strip() for value in lengths for v in value.split(",")}
        value = values.pop() if len(values) == 1 else ""
        if not (value.isascii() and value.isdigit()) or len(value) > MAX_LENGTH_DIGITS:
            raise RequestError(f"Content-Length must be one whole number of bytes, got "
                               f"{', '.join(lengths)[:80]!r}")
        return Framing("length", int(value))
    if method == "POST":
        raise LengthRequired("a POST needs its body's length: send Content-Length or Transfer-Encoding: chunked")
    return Framing("none")


def _line(rfile: io.BufferedReader, what: str) -> bytes:
    line = rfile.readline(MAX_CHUNK_LINE + 1)
    if not line:
        raise PeerClosed()
    if len(line) > MAX_CHUNK_LINE:
        raise RequestError(f"a {what} line is longer than {MAX_CHUNK_LINE} bytes")
    if not line.endswith(b"\r\n"):
        if not line.endswith(b"\n"):
            raise PeerClosed()
        raise RequestError(f"a {what} line must end with CRLF")
    return line[:-2]


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes, the most this runtime reads "
                           f"(a prompt longer than that cannot fit the model's context)")


def read_chunked(rfile: io.BufferedReader, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_field = _line(rfile, "chunk size").split(b";", 1)[0].strip(b" \t")
        text = size_field.decode("latin-1")
        if not text or len(text) > MAX_LENGTH_DIGITS or any(c not in HEX for c in text):
            raise RequestError(f"chunk size {text[:20]!r} is not a hexadecimal number")
        size = int(text, 16)
        if size == 0:
            break
        total += size
        if total > limit:
            raise _too_large(limit)
        data = rfile.read(size)
        if len(data) < size:
            raise PeerClosed()
        parts.append(data)
        end = rfile.read(2)
        if len(end) < 2:
            raise PeerClosed()
        if end != b"\r\n":
            raise RequestError("chunk data must be followed by CRLF")
    for _ in range(MAX_TRAILER_LINES):  # trailers are read and dropped
        if not _line(rfile, "trailer"):
            return b"".join(parts)
    raise RequestError(f"more than {MAX_TRAILER_LINES} trailer lines")


def check_length(framing: Framing, limit: int) -> None:
    """Refuse a declared length over the limit before reading any of the body."""
    if framing.kind == "length" and framing.length > limit:
        raise _too_large(limit)


def read_body(rfile: io.BufferedReader, framing: Framing, limit: int) -> bytes:
    """The whole body; raises PayloadTooLarge (413), RequestError (400), PeerClosed, or
    RequestTimeout (408) when the reader's deadline passes."""
    try:
        if framing.kind == "none":
            return b""
        if framing.kind == "length":
            check_length(framing, limit)
            data = rfile.read(framing.length)
            if len(data) < framing.length:
                raise PeerClosed()
            return data
        return read_chunked(rfile, limit)
    except TimeoutError:
        raise RequestTimeout("the request body did not arrive in time (BODY_TIMEOUT_S)") from None
