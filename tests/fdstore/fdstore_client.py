"""A client of the fdstore wire protocol (lib/fdstore/README.md, version 1)
written from the documentation alone, with nothing but Python's socket
module: socket.send_fds / socket.recv_fds over a SOCK_SEQPACKET socket."""

import socket
import struct

VERSION = 1
FETCH, STORE, REMOVE, LIST, OK, ERROR = 1, 2, 3, 4, 0x80, 0x81
CODES = {0: "OK", 1: "BAD_REQUEST", 2: "REFUSED", 3: "NOT_FOUND",
         4: "UNSUPPORTED_VERSION", 5: "FULL", 6: "BUSY"}
HEADER = struct.Struct("<BBHI")
MAX_MESSAGE = 65536
MAX_FDS = 128


class ServerError(Exception):
    def __init__(self, code, message):
        super().__init__("%s: %s" % (CODES.get(code, code), message))
        self.code = CODES.get(code, code)
        self.message = message


def encode(msg_type, strings=(), code=0, version=VERSION):
    out = [HEADER.pack(version, msg_type, len(strings), code)]
    for s in strings:
        b = s.encode() if isinstance(s, str) else s
        out.append(struct.pack("<H", len(b)) + b)
    return b"".join(out)


def decode(data):
    version, msg_type, count, code = HEADER.unpack_from(data)
    assert version == VERSION, "reply version %d" % version
    at, strings = HEADER.size, []
    for _ in range(count):
        (n,) = struct.unpack_from("<H", data, at)
        strings.append(data[at + 2:at + 2 + n].decode())
        at += 2 + n
    assert at == len(data), "trailing bytes in reply"
    return msg_type, code, strings


def connect(path, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    s.connect(path)
    return s


def call_raw(sock, payload, fds=()):
    """Sends one record; returns (type, code, strings, fds) of the reply, or
    None when the server hung up instead."""
    try:
        socket.send_fds(sock, [payload], list(fds))
    except BrokenPipeError:
        pass  # a refusal may come before any request: the reply is still there
    try:
        data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    except ConnectionResetError:
        # The server hung up with our request unread; the kernel says so
        # once, ahead of the reply still queued for us.
        data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    if not data:
        for fd in fds:
            socket.close(fd)
        return None
    msg_type, code, strings = decode(data)
    return msg_type, code, strings, fds


def call(sock, msg_type, strings=(), fds=()):
    reply = call_raw(sock, encode(msg_type, strings), fds)
    if reply is None:
        raise ConnectionError("server hung up")
    rtype, code, rstrings, rfds = reply
    if rtype == ERROR:
        for fd in rfds:
            socket.close(fd)
        raise ServerError(code, rstrings[0] if rstrings else "")
    assert rtype == OK, "reply type %#x" % rtype
    return rstrings, rfds


def fetch(sock, names=()):
    """[(name, fd)]; the caller owns the fds."""
    strings, fds = call(sock, FETCH, list(names))
    assert len(strings) == len(fds), (strings, fds)
    return list(zip(strings, fds))


def store(sock, names, fds):
    call(sock, STORE, list(names), fds)


def remove(sock, names):
    call(sock, REMOVE, list(names))


def list_entries(sock):
    strings, _ = call(sock, LIST)
    return [tuple(strings[i:i + 3]) for i in range(0, len(strings), 3)]
