"""A hostile HTTP peer on loopback, run as its own process (its threads and sockets are not ours).

What it does depends on the relation in the request path (``/relations/<relation>/...``), or on
``--mode`` for every request (standing in for an OTLP backend or S3):

- ``TrickleStatus``: the status line, then everything else, one byte every ``--pause`` seconds;
- ``TrickleHeaders``: the status line at once, then the headers one byte at a time, never ending;
- ``TrickleBody``: status and headers at once (Content-Length 1 MB), then the body one byte at a time;
- ``TrickleClose``: ``Connection: close`` and no length (the body ends with the connection), trickled;
- ``Trickle10``: an HTTP/1.0 answer (ends with the connection), its body trickled;
- a name of ``FRAMING``: that answer, not valid HTTP/1.1 (chunk sizes, lengths, folded or malformed
  headers, two answers to one request), followed by 64 MB of filler that nobody should read;
- ``Interim``: 100 Continue and 103 Early Hints before a valid answer; ``InterimForever``: 50 of them;
- ``NotUtf8``: a valid answer whose Content-Type and Date hold bytes that are not UTF-8;
- ``TwoAnswers``: a valid answer and, in the same write, a second one (``[999]``);
- ``Stray``: a valid answer, then, once the client is idle on the kept-alive connection, an answer
  nobody asked for (``[999]``), and so on for every request;
- ``Silent``: reads the request and never answers;
- ``Gzipped``: ``200 []`` compressed with gzip (Content-Encoding), though nobody asked for it;
- anything else: ``200 []`` as JSON, keep-alive.

Stdlib only. Prints ``PORT <n>`` on stdout when listening; stops on SIGTERM or when stdin closes.
"""

from __future__ import annotations

import argparse
import gzip
import socket
import sys
import threading

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"
GZIPPED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
)
stopping = threading.Event()
FILLER_BYTES = 64 << 20
CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
#: Answers that are not valid HTTP/1.1; each must be refused as invalid_response, never read to its end.
FRAMING: dict[str, bytes] = {
    "NegativeChunk": CHUNKED + b"-1\r\n",
    "HugeChunk": CHUNKED + b"FFFFFFFFFFFFFFFFFFFF\r\n",
    "MalformedChunk": CHUNKED + b"2x\r\n[]\r\n0\r\n\r\n",
    "DuplicateLength": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n[]",
    "ConflictingLength": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n[1,2,3]",
    "LengthAndChunked": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    + CHUNKED.split(b"\r\n", 2)[2]
    + b"2\r\n[]\r\n0\r\n\r\n",
    "NegativeLength": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n[]",
    "Folded": b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n ERROR forged line\r\nContent-Length: 2\r\n\r\n[]",
    "SpaceInName": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n[]",
    "ControlInValue": b"HTTP/1.1 200 OK\r\nX-Note: \x1b[2Jcleared\r\nContent-Length: 2\r\n\r\n[]",
    "NotHttp": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
}
JSON_HEAD = b"Content-Type: application/json\r\n"
#: Heads after which the body is trickled: with a length, ended by the connection, in HTTP/1.0.
TRICKLED_BODIES: dict[str, bytes] = {
    "TrickleBody": b"HTTP/1.1 200 OK\r\n" + JSON_HEAD + b"Content-Length: 1000000\r\n\r\n",
    "TrickleClose": b"HTTP/1.1 200 OK\r\n" + JSON_HEAD + b"Connection: close\r\n\r\n",
    "Trickle10": b"HTTP/1.0 200 OK\r\n" + JSON_HEAD + b"\r\n",
}
#: An answer nobody asked for.
STRAY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n[999]"


def _read_request(conn: socket.socket, buffer: bytearray) -> bytes | None:
    """The request head (up to the blank line), or None when the client closed."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None
        buffer.extend(data)
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    del buffer[:end]
    return head


def _trickle(conn: socket.socket, data: bytes, pause: float, forever: bytes = b"") -> None:
    """Send ``data`` one byte per pause, then ``forever`` repeated the same way, until the peer leaves."""
    for byte in data:
        if stopping.wait(pause):
            return
        conn.sendall(bytes([byte]))
    while forever:
        for byte in forever:
            if stopping.wait(pause):
                return
            conn.sendall(bytes([byte]))


def _mode_of(head: bytes, default: str) -> str:
    if default:
        return default
    path = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else ""
    parts = path.split("/relations/", 1)
    return parts[1].split("/", 1)[0] if len(parts) == 2 else ""


def _filler(conn: socket.socket) -> None:
    """What a broken framing would have the client read to the end of the stream: 64 MB."""
    block = b"x" * 65536
    for _ in range(FILLER_BYTES // len(block)):
        if stopping.is_set():
            return
        conn.sendall(block)


def serve(conn: socket.socket, default_mode: str, pause: float) -> None:
    buffer = bytearray()
    try:
        while (head := _read_request(conn, buffer)) is not None:
            mode = _mode_of(head, default_mode)
            if mode == "Silent":
                while conn.recv(65536):  # until the client gives up
                    pass
                return
            if mode == "TrickleStatus":
                _trickle(conn, b"HTTP/1.1 200 OK\r\n", pause, forever=b"X-Slow: a\r\n")
                return
            if mode == "TrickleHeaders":
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                _trickle(conn, b"", pause, forever=b"X-Slow: a\r\n")
                return
            if mode in TRICKLED_BODIES:  # the head at once, then the body a byte at a time, never ending
                conn.sendall(TRICKLED_BODIES[mode])
                _trickle(conn, b"[", pause, forever=b"1,")
                return
            if mode in FRAMING:
                conn.sendall(FRAMING[mode])
                _filler(conn)
                return
            if mode == "Interim":  # 100 Continue and 103 Early Hints, then the answer: all legal
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK)
                continue
            if mode == "InterimForever":
                conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" * 50 + OK)
                continue
            if mode == "NotUtf8":  # bytes that are not UTF-8 in headers every exporter must still encode
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json; x=\x9b\r\nDate: Thu, 03 Dec\xff 2026\r\n"
                    b"Content-Length: 2\r\n\r\n[]"
                )
                continue
            if mode == "TwoAnswers":
                conn.sendall(OK + STRAY)
                continue
            if mode == "Stray":
                conn.sendall(OK)
                if stopping.wait(pause):  # the client is idle on the kept-alive connection now
                    return
                conn.sendall(STRAY)
                continue
            if mode == "Gzipped":
                body = gzip.compress(b"[]")
                conn.sendall(GZIPPED_HEAD % len(body) + body)
                continue
            conn.sendall(OK)
    except OSError:
        return  # the client cut the connection: what a hostile peer expects
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="", help="one behaviour for every request, whatever the path")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between trickled bytes")
    args = parser.parse_args()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    print(f"PORT {listener.getsockname()[1]}", flush=True)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn, args.mode, args.pause), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()  # the parent closes stdin (or exits): stop
    stopping.set()


if __name__ == "__main__":
    main()
