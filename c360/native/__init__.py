"""c360's one C library: the JSON Lines block reader of the AQI calculator (``flatjson.c``).

``make venv`` compiles it into the virtual environment (``python -m c360.native``), as it
builds c360's jar. Nothing needs it: without a C compiler, or with ``C360_NATIVE_LIBRARY=off``,
:func:`library` is None and its callers use pyarrow instead, at their old speed and with the
same results.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCES = (Path(__file__).with_name("flatjson.c"),)
FLAGS = ("-O2", "-shared", "-fPIC", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fstack-protector-strong")


def library_path() -> Path | None:
    """Where ``make venv`` builds the library; ``C360_NATIVE_LIBRARY`` names another file,
    or ``off`` for none."""
    chosen = os.environ.get("C360_NATIVE_LIBRARY")
    if chosen == "off":
        return None
    return Path(chosen) if chosen else Path(sys.prefix) / "share" / "c360" / "libc360.so"


def build(target: Path) -> Path:
    """Compile ``SOURCES`` into the shared library ``target`` (replaced only once complete)."""
    cc = shlex.split(os.environ.get("CC", "")) or [c for c in (shutil.which("cc") or shutil.which("gcc"),) if c]
    if not cc:
        raise RuntimeError("no C compiler (cc) found")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="c360-native-", dir=target.parent) as tmp:
            out = Path(tmp) / target.name
            done = subprocess.run([*cc, *FLAGS, "-o", str(out), *map(str, SOURCES)], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cc)} failed:\n{done.stderr[-2000:]}")
            os.replace(out, target)
    except OSError as exc:  # the compiler cannot run, or the folder cannot be written
        raise RuntimeError(f"the C library could not be built: {exc}") from exc
    return target


@functools.cache
def library() -> ctypes.CDLL | None:
    """The built library with its functions typed, or None when there is none."""
    path = library_path()
    if path is None or not path.is_file():
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    pointer = ctypes.c_void_p
    lib.flatjson_read.restype = ctypes.c_int64
    lib.flatjson_read.argtypes = [
        ctypes.c_char_p, ctypes.c_int64, pointer, pointer, ctypes.c_int32, ctypes.c_int32,
        ctypes.c_int64, ctypes.c_int64, pointer, pointer, pointer, pointer,
    ]  # fmt: skip
    return lib


def main() -> None:
    """``python -m c360.native``: build the library where :func:`library_path` says."""
    where = library_path()
    if where is None:  # the user's choice: the install goes on without it
        print("note: C360_NATIVE_LIBRARY=off: no C library built; the AQI's JSON Lines path reads with pyarrow alone",
              file=sys.stderr)  # fmt: skip
        return
    try:
        print(f"c360's C library (the AQI's JSON Lines reader): {build(where)}")
    except RuntimeError as exc:  # then the JSON path reads with pyarrow alone: slower, not wrong
        print(f"note: {exc}; the AQI's JSON Lines path reads with pyarrow alone", file=sys.stderr)
