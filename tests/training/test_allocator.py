"""Training keeps freed memory: a large block freed and allocated again is not mapped afresh."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from deepshield.training import allocator

# Allocates, fills and frees a 64 MiB block eight times (each pass touches all its pages) and
# prints the minor page faults that took. Each run is a fresh process, as the setting is global.
CHURN = """
import ctypes, resource, sys
from deepshield.training.allocator import keep_freed_memory
if sys.argv[1] == "keep" and not keep_freed_memory():
    raise SystemExit("keep_freed_memory did nothing")
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 64 << 20
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", CHURN, mode], check=True, capture_output=True, text=True
    )
    return int(result.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_blocks_are_reused_instead_of_mapped_again() -> None:
    default, kept = page_faults("default"), page_faults("keep")
    # by default each pass maps the block afresh (16 384 pages of 4 KiB); kept, only the first
    assert default > 4 * kept, (default, kept)


def test_other_c_libraries_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator.keep_freed_memory() is False
