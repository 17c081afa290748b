#!/usr/bin/env python3
"""Writes the seed corpus of the @FuzzTest harnesses (see docs/testing.md, "Fuzzing").

Each seed is what a peer sends, then the harness's setup byte, then its read-size byte (FuzzInput in
rbd-protocol's tests): valid messages of every kind and the edge cases around each limit. Run from the
repository root; it rewrites the seed-*.bin files and leaves every other file (kept findings) alone.
"""
import os
import struct
import uuid

IHAVEOPT = 0x49484156454F5054
REQUEST_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCTURED_MAGIC = 0x668E33EF
FILL_LIMIT = 2 << 20
UNIT = 128 << 10  # FuzzInput.FILLER_UNIT


def setup(low, filler_bytes=0):
    units = -(-filler_bytes // UNIT)
    assert units < 64
    return (units << 2) | low


def seed(wire, setup_byte=0, read_size=0):
    return bytes(wire) + bytes([setup_byte, read_size])


def option(code, data=b"", length=None):
    return struct.pack(">QII", IHAVEOPT, code, len(data) if length is None else length) + data


def info_request(name, *infos):
    n = name.encode()
    return struct.pack(">I", len(n)) + n + struct.pack(">H", len(infos)) + b"".join(
        struct.pack(">H", i) for i in infos)


def session(name, slot=0, epoch=1, sid=uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")):
    n = name.encode()
    return sid.bytes + struct.pack(">IQI", slot, epoch, len(n)) + n


def request(cmd, cookie=1, offset=0, length=0, flags=0, payload=b""):
    return struct.pack(">IHHQQI", REQUEST_MAGIC, flags, cmd, cookie, offset, length) + payload


def simple(cookie, error=0, data=b""):
    return struct.pack(">IIQ", SIMPLE_MAGIC, error, cookie) + data


def chunk(cookie, type_, payload=b"", flags=0, length=None):
    return struct.pack(">IHHQI", STRUCTURED_MAGIC, flags, type_, cookie,
                       len(payload) if length is None else length) + payload


def pattern(n):
    return bytes((i * 7 + 1) & 0xFF for i in range(n))


FLAGS = struct.pack(">I", 3)  # FIXED_NEWSTYLE | NO_ZEROES

handshake = {
    "flags-only": seed(FLAGS),
    "flags-truncated": seed(FLAGS[:3]),
    "unknown-client-flags": seed(struct.pack(">I", 0x80000003) + option(3)),
    "list": seed(FLAGS + option(3)),
    "list-with-data": seed(FLAGS + option(3, b"x")),
    "abort": seed(FLAGS + option(2)),
    "export-name-disk": seed(FLAGS + option(1, b"disk")),
    "export-name-unknown": seed(FLAGS + option(1, b"nope\n")),
    "info-disk-name-description": seed(FLAGS + option(6, info_request("disk", 1, 2, 3))),
    "info-ro": seed(FLAGS + option(6, info_request("ro"))),
    "info-unknown-export": seed(FLAGS + option(6, info_request("nope"))),
    "info-malformed": seed(FLAGS + option(6, struct.pack(">I", 99) + b"di")),
    "go-default-export": seed(FLAGS + option(7, info_request(""))),
    "structured-then-go": seed(FLAGS + option(8) + option(8) + option(7, info_request("disk", 3))),
    "go-then-requests": seed(FLAGS + option(7, info_request("disk")) + request(1, 1, 0, 4, 0, b"abcd")
                             + request(0, 2, 0, 4) + request(3, 3) + request(2, 4)),
    "go-ro-then-write": seed(FLAGS + option(7, info_request("ro")) + request(1, 1, 0, 4, 0, b"abcd")),
    "export-name-then-read": seed(FLAGS + option(1, b"disk") + request(0, 9, 512, 512)),
    "session-then-go": seed(FLAGS + option(0x52424401, session("disk")) + option(7, info_request("disk"))),
    "session-twice": seed(FLAGS + option(0x52424401, session("disk")) + option(0x52424401, session("disk", 1, 2))),
    "session-malformed": seed(FLAGS + option(0x52424401, b"\0" * 31)),
    "session-unknown-export": seed(FLAGS + option(0x52424401, session("nope"))),
    "unknown-options": seed(FLAGS + option(0x7777) + option(4) + option(5) + option(9) + option(10) + option(11)
                            + option(0xFFFFFFFF)),
    "no-client-flags": seed(option(3)),
    "bad-option-magic": seed(FLAGS + b"IHAVEOPX" + struct.pack(">II", 3, 0)),
    "option-data-at-limit": seed(FLAGS + option(0x7777, bytes(64 << 10))),
    "option-data-over-limit": seed(FLAGS + option(0x7777, length=(64 << 10) + 1)),
    "option-header-truncated": seed(FLAGS + option(3)[:15]),
    "byte-at-a-time-go": seed(FLAGS + option(8) + option(7, info_request("disk", 1)), read_size=1),
    "reads-of-7": seed(FLAGS + option(3) + option(6, info_request("disk")) + option(2), read_size=7),
}

options = {k: v for k, v in handshake.items() if not k.startswith(("go-then", "go-ro", "export-name-then"))}
options["data-at-4k-limit"] = seed(FLAGS + option(6, bytes(4096)), setup(1))
options["data-over-4k-limit"] = seed(FLAGS + option(6, length=4097), setup(1))
options["data-max-length"] = seed(FLAGS + option(6, length=0xFFFFFFFF))

requests = {
    "read": seed(request(0, 1, 4096, 4096)),
    "write-small": seed(request(1, 2, 512, 4, 1, b"abcd")),
    "write-empty": seed(request(1, 2, 0, 0)),
    "every-command": seed(b"".join(request(c, c, 0, 512 if c != 1 else 8, 0, pattern(8) if c == 1 else b"")
                                   for c in range(9)) + request(0xFFFF, 99)),
    "extremes": seed(request(0, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF, 0xFFFF)),
    "header-truncated": seed(request(0)[:27]),
    "bad-magic": seed(b"\x25\x60\x95\x14" + request(0)[4:]),
    "bad-magic-then-valid": seed(b"\x25\x60\x95\x14" + request(0)[4:] + request(1, 3, 0, 4, 0, b"abcd")),
    "write-payload-truncated": seed(request(1, 2, 0, 16, 0, b"short")),
    "write-byte-at-a-time": seed(request(1, 2, 0, 16, 0, pattern(16)) + request(0, 3), read_size=1),
    "write-at-4k-limit": seed(request(1, 2, 0, 4096, 0, pattern(4096)), setup(0)),
    "write-over-4k-dropped": seed(request(1, 2, 0, 4097, 0, pattern(4097)) + request(3, 3), setup(0)),
    "write-at-fill-limit": seed(request(1, 2, 0, FILL_LIMIT), setup(3, FILL_LIMIT)),
    "write-streamed-3m": seed(request(1, 2, 0, 3 << 20), setup(3, 3 << 20)),
    "write-streamed-in-reads": seed(request(1, 2, 0, FILL_LIMIT + 1), setup(2, FILL_LIMIT + 1), 200),
    "write-streamed-cut": seed(request(1, 2, 0, 5 << 20), setup(3, 3 << 20)),
    "write-over-max-dropped": seed(request(1, 2, 0, 5 << 20), setup(2, 5 << 20)),
    "write-over-32m": seed(request(1, 2, 0, (32 << 20) + 1), setup(3)),
    "write-max-length": seed(request(1, 2, 0, 0xFFFFFFFF), setup(3)),
}

replies = {
    "simple-ok-no-data": seed(simple(0)),
    "simple-error": seed(simple(5, 22)),
    "simple-unknown-cookie": seed(simple(0x8000000000000001)),
    "simple-read-data": seed(simple(16, 0, pattern(16))),
    "simple-read-truncated": seed(simple(16, 0, pattern(10))),
    "simple-header-truncated": seed(simple(0)[:15]),
    "simple-at-4k-limit": seed(simple(4096, 0, pattern(4096)), setup(1)),
    "simple-over-4k-limit": seed(simple(4097, 0, pattern(4097)), setup(1)),
    "simple-read-large": seed(simple(3 << 20), setup(0, 3 << 20)),
    "chunk-none-done": seed(chunk(1, 0, flags=1)),
    "chunk-offset-data": seed(chunk(2, 1, struct.pack(">Q", 4096) + pattern(20), 1)),
    "chunk-offset-data-flags": seed(chunk(2, 1, struct.pack(">Q", 4096) + pattern(1), 0xFFFF)),
    "chunk-offset-data-short": seed(chunk(2, 1, struct.pack(">Q", 4096))),
    "chunk-offset-hole": seed(chunk(3, 2, struct.pack(">QI", 0, 4096), 1)),
    "chunk-error": seed(chunk(4, 0x8001, struct.pack(">IH", 5, 3) + b"bad", 1)),
    "chunk-error-offset": seed(chunk(4, 0x8002, struct.pack(">IH", 5, 0) + struct.pack(">Q", 7), 1)),
    "chunk-block-status": seed(chunk(5, 5, struct.pack(">III", 1, 4096, 0), 1)),
    "chunk-unknown-type": seed(chunk(6, 0x7777, b"x")),
    "chunk-over-4k-limit": seed(chunk(7, 0, length=4097), setup(1)),
    "chunk-max-length": seed(chunk(7, 0, length=0xFFFFFFFF)),
    "chunk-header-truncated": seed(chunk(1, 0)[:19]),
    "bad-magic": seed(b"\x67\x44\x66\x99" + simple(0)[4:]),
    "mixed-byte-at-a-time": seed(simple(0) + simple(4, 0, b"abcd") + chunk(2, 1, struct.pack(">Q", 0) + b"z", 1),
                                 read_size=1),
}

harnesses = {
    "rbd-protocol/src/test/resources/dev/rbd/protocol/codec/ServerHandshakeDecoderFuzzTestInputs/"
    "decodesAnyOptionStream": options,
    "rbd-protocol/src/test/resources/dev/rbd/protocol/codec/RequestDecoderFuzzTestInputs/"
    "decodesAnyRequestStream": requests,
    "rbd-protocol/src/test/resources/dev/rbd/protocol/codec/ReplyDecoderFuzzTestInputs/"
    "decodesAnyReplyStream": replies,
    "rbd-server/src/test/resources/dev/rbd/server/handshake/HandshakeHandlerFuzzTestInputs/"
    "negotiatesAnyOptionStream": handshake,
}

for directory, seeds in harnesses.items():
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.startswith("seed-"):
            os.remove(os.path.join(directory, name))
    for name, data in seeds.items():
        with open(os.path.join(directory, "seed-" + name + ".bin"), "wb") as f:
            f.write(data)
    print(f"{directory}: {len(seeds)} seeds")
