# -*- coding: utf-8 -*-
"""Reading log files: rotated and gzip files, broken input (logs_window chooses which).

A file the scan cannot fully read (binary, truncated gzip, unreadable) is recorded with the reason
and the lines read before the fault still count; nothing here raises on bad data.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import zlib

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 64 * 1024
_SNIFF_BYTES = 8192


def _is_gzip(path):
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


class FileReport(object):
    """What happened reading one file: lines, oversized lines, and why it stopped early."""

    __slots__ = ("path", "lines", "oversized", "problem", "years")

    def __init__(self, path):
        self.path = path
        self.lines = 0
        self.oversized = 0
        self.problem = None
        self.years = set()  # years given to year-less stamps (inferred from the mtime, not read)

    def as_dict(self):
        result = {"path": self.path, "lines": self.lines}
        if self.oversized:
            result["oversized_lines"] = self.oversized
        if self.problem:
            result["problem"] = self.problem
        if self.years:
            result["year_inferred"] = "%s (stamps without a year, placed by the file's modification time)" \
                % ", ".join(str(year) for year in sorted(self.years))
        return result


def _gzip_chunks(handle, report):
    """Decompressed chunks of a gzip stream (several members too), keeping what precedes a fault.

    GzipFile.read() raises on a truncated file before handing back the data it did decompress;
    a decompressor fed by hand loses nothing but the broken tail.
    """
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    while True:
        raw = handle.read(CHUNK_BYTES)
        if not raw:
            if not decompressor.eof:
                report.problem = "truncated compressed data (the end of the gzip stream is missing)"
            return
        while raw:
            try:
                chunk = decompressor.decompress(raw)
            except zlib.error as exc:
                report.problem = "corrupt compressed data: %s" % (exc,)
                return
            if chunk:
                yield chunk
            raw = b""
            if decompressor.eof:
                raw = decompressor.unused_data
                if raw and raw[:2] != b"\x1f\x8b":
                    return  # trailing garbage after the last member, as gzip itself ignores it
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)


def _plain_chunks(handle, report):
    while True:
        chunk = handle.read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk


def _range_chunks(handle, start, end):
    """Chunks of a plain file holding the lines that belong to bytes [start, end): those after
    the first newline at or after start - 1, up to the first newline at or after end - 1. The
    neighbouring range cuts at the same newline, so every line is read by exactly one range."""
    position = 0
    chunk = b""
    if start:
        handle.seek(start - 1)
        position = start - 1
        while True:
            chunk = handle.read(CHUNK_BYTES)
            if not chunk:
                return
            cut = chunk.find(b"\n")
            if cut >= 0:
                chunk, position = chunk[cut + 1:], position + cut + 1
                break
            position += len(chunk)
        if position >= end:
            return  # a line longer than the range: the range before holds it
    while True:
        if not chunk:
            chunk = handle.read(CHUNK_BYTES)
            if not chunk:
                return
        if position + len(chunk) >= end:
            cut = chunk.find(b"\n", max(0, end - 1 - position))
            if cut >= 0:
                yield chunk[:cut + 1]
                return
        yield chunk
        position += len(chunk)
        chunk = b""


def file_kind(path):
    """"gzip", "binary" (NUL bytes near the start) or "plain"; None when it cannot be opened."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return None
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    return "binary" if b"\x00" in head else "plain"


def read_blocks(path, report, byte_range=None):
    """Yield blocks of complete lines (bytes, lines joined by newlines, no final newline) of
    ``path``, gzip or plain, recording faults in ``report``; with ``byte_range`` (start, end),
    only the lines of a plain file that belong to that range (see _range_chunks).

    A run of more than MAX_LINE_BYTES without a newline is dropped (counted as one oversized
    line); a file whose first bytes hold NUL is treated as binary and skipped. Lines are not
    counted here: the consumer does, since it may drop oversized lines inside a block.
    """
    try:
        compressed = byte_range is None and _is_gzip(path)
        handle = open(path, "rb")
    except OSError as exc:
        report.problem = "unreadable: %s" % (exc.strerror or exc)
        return
    with handle:
        carry = b""
        dropping = False
        # The binary sniff looks at the start of the file, which only the first range holds.
        first = byte_range is None or byte_range[0] == 0
        if byte_range is not None:
            chunks = _range_chunks(handle, *byte_range)
        else:
            chunks = _gzip_chunks(handle, report) if compressed else _plain_chunks(handle, report)
        while True:
            try:
                chunk = next(chunks, b"")
            except OSError as exc:
                report.problem = "read error: %s" % (exc.strerror or exc)
                break
            if first:
                first = False
                if b"\x00" in chunk[:_SNIFF_BYTES]:
                    report.problem = "binary data (NUL bytes); skipped"
                    return
            if not chunk:
                break
            end = chunk.rfind(b"\n")
            if end < 0:
                carry += chunk
                if len(carry) > MAX_LINE_BYTES:
                    if not dropping:
                        report.oversized += 1
                    dropping, carry = True, b""
                continue
            # One copy of the chunk, not two (a slice of bytes is a copy; of a memoryview it is not).
            block = carry + memoryview(chunk)[:end] if carry else chunk[:end]
            carry = chunk[end + 1:]
            if dropping:  # the first line is the tail of a line already counted as oversized
                cut = block.find(b"\n")
                block = block[cut + 1:] if cut >= 0 else b""
                dropping = False
                if cut < 0:
                    continue
            yield block
        # A last line without newline; in a truncated file it is cut, so it is not trusted.
        if carry and not dropping and len(carry) <= MAX_LINE_BYTES and not report.problem:
            yield carry


def split_lines(block, report):
    """The text lines of a block from read_blocks, counted in ``report``; oversized ones dropped."""
    for raw in block.split(b"\n"):
        if len(raw) > MAX_LINE_BYTES:
            report.oversized += 1
            continue
        report.lines += 1
        yield raw.decode("utf-8", "replace").rstrip("\r")


def read_lines(path, report, byte_range=None):
    """Yield the text lines of ``path`` (gzip or plain; with ``byte_range``, those of that range of
    a plain file, see read_blocks), recording faults in ``report``."""
    for block in read_blocks(path, report, byte_range):
        for line in split_lines(block, report):
            yield line
