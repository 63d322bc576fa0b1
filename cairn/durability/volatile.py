"""A test hook that makes un-fsynced log bytes as volatile as they are on a power cut.

``write`` keeps the bytes in this process; ``fsync`` writes them to the file and
then really syncs. Killing the process loses whatever was written but not yet
fsynced, so a crash test run with this hook proves that no reply left before the
fdatasync of its record returned (the page cache alone would hide that).
"""

from __future__ import annotations

import os
import time


class VolatileWrites:
    def __init__(self, fsync_delay: float = 0.0) -> None:
        self.fsync_delay = fsync_delay
        self.buffers: dict[int, bytearray] = {}

    def write(self, fd: int, data: memoryview) -> int:
        self.buffers.setdefault(fd, bytearray()).extend(data)
        return len(data)

    def fsync(self, fd: int) -> None:
        if self.fsync_delay:
            time.sleep(self.fsync_delay)
        pending = self.buffers.pop(fd, None)
        if pending:
            view = memoryview(pending)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        os.fdatasync(fd)
