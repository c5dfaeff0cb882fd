#!/usr/bin/env python3
"""Minimal CQL native protocol v4 client (standard library only).

Used by scripts/cql-test-server as its readiness probe: it connects, sends
STARTUP, then runs each query given (default:
SELECT release_version FROM system.local) and prints the rows, one line per
row, columns separated by tabs.  Exit status 0 when every query succeeded,
1 on a server ERROR, 2 when the server could not be reached or spoke
something else.

    cqlprobe.py [--host 127.0.0.1] [--port 9042] [--timeout 5] [QUERY ...]
"""

import argparse
import socket
import struct
import sys
import uuid

VERSION = 0x04
OP_ERROR, OP_STARTUP, OP_READY, OP_QUERY, OP_RESULT = 0x00, 0x01, 0x02, 0x07, 0x08
CONSISTENCY_ONE = 0x0001

RESULT_VOID, RESULT_ROWS, RESULT_SET_KEYSPACE, RESULT_PREPARED, RESULT_SCHEMA = 1, 2, 3, 4, 5


class CqlError(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated frame body")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self):
        return self.take(1)[0]

    def short(self):
        return struct.unpack(">H", self.take(2))[0]

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def string(self):
        return self.take(self.short()).decode("utf-8")

    def string_list(self):
        return [self.string() for _ in range(self.short())]

    def bytes(self):
        n = self.int()
        return None if n < 0 else self.take(n)

    def option(self):
        """[option] describing a column type; returns a nested tuple."""
        kind = self.short()
        if kind == 0x0000:
            return ("custom", self.string())
        if kind in (0x0020, 0x0022):  # list, set
            return (kind, self.option())
        if kind == 0x0021:  # map
            return (kind, self.option(), self.option())
        if kind == 0x0030:  # UDT
            self.string(), self.string()
            fields = [(self.string(), self.option()) for _ in range(self.short())]
            return (kind, fields)
        if kind == 0x0031:  # tuple
            return (kind, [self.option() for _ in range(self.short())])
        return (kind,)


def decode(typ, raw):
    if raw is None:
        return "null"
    kind = typ[0]
    if kind in (0x0001, 0x000D):  # ascii, varchar
        return raw.decode("utf-8", "replace")
    if kind == 0x0004:  # boolean
        return "true" if raw and raw[0] else "false"
    if kind in (0x0002, 0x0005, 0x0009, 0x000E, 0x0013, 0x0014) and raw:
        # bigint, counter, int, varint, smallint, tinyint
        return str(int.from_bytes(raw, "big", signed=True))
    if kind in (0x000C, 0x000F) and len(raw) == 16:  # uuid, timeuuid
        return str(uuid.UUID(bytes=raw))
    return "0x" + raw.hex()


class Connection:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)

    def close(self):
        self.sock.close()

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by server")
            buf += chunk
        return buf

    def request(self, opcode, body):
        self.sock.sendall(struct.pack(">BBhBi", VERSION, 0, 0, opcode, len(body)) + body)
        version, flags, _stream, op, length = struct.unpack(">BBhBi", self._recv_exact(9))
        if version != (0x80 | VERSION):
            raise ConnectionError("unexpected protocol version 0x%02x" % version)
        r = Reader(self._recv_exact(length))
        if flags & 0x02:  # tracing id
            r.take(16)
        if flags & 0x08:  # warnings
            for w in r.string_list():
                print("warning: " + w, file=sys.stderr)
        if flags & 0x04:  # custom payload
            for _ in range(r.short()):
                r.string(), r.bytes()
        if op == OP_ERROR:
            code = r.int()
            raise CqlError("server error 0x%04x: %s" % (code, r.string()))
        return op, r

    def startup(self):
        body = struct.pack(">H", 1)
        for s in ("CQL_VERSION", "3.0.0"):
            b = s.encode()
            body += struct.pack(">H", len(b)) + b
        op, _ = self.request(OP_STARTUP, body)
        if op != OP_READY:
            raise ConnectionError("expected READY, got opcode 0x%02x" % op)

    def query(self, cql):
        q = cql.encode("utf-8")
        body = struct.pack(">i", len(q)) + q + struct.pack(">HB", CONSISTENCY_ONE, 0)
        op, r = self.request(OP_QUERY, body)
        if op != OP_RESULT:
            raise ConnectionError("expected RESULT, got opcode 0x%02x" % op)
        kind = r.int()
        if kind != RESULT_ROWS:
            return kind, [], []
        flags, ncols = r.int(), r.int()
        if flags & 0x0002:  # has more pages
            r.bytes()
        if flags & 0x0004:  # no metadata
            raise ConnectionError("rows without metadata")
        if flags & 0x0001:  # global table spec
            r.string(), r.string()
        cols = []
        for _ in range(ncols):
            if not flags & 0x0001:
                r.string(), r.string()
            cols.append((r.string(), r.option()))
        rows = []
        for _ in range(r.int()):
            rows.append([decode(t, r.bytes()) for _, t in cols])
        return kind, [name for name, _ in cols], rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9042)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--header", action="store_true", help="print column names first")
    ap.add_argument("queries", nargs="*", default=["SELECT release_version FROM system.local"])
    args = ap.parse_args()
    try:
        conn = Connection(args.host, args.port, args.timeout)
    except OSError as e:
        print("cqlprobe: cannot connect to %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 2
    try:
        conn.startup()
        for q in args.queries:
            kind, names, rows = conn.query(q)
            if kind == RESULT_ROWS:
                if args.header:
                    print("\t".join(names))
                for row in rows:
                    print("\t".join(row))
        return 0
    except CqlError as e:
        print("cqlprobe: %s" % e, file=sys.stderr)
        return 1
    except (OSError, ValueError, struct.error) as e:
        print("cqlprobe: %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 2
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
