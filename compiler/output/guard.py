"""Who may write an output folder, and what to say when the file system refuses.

`output_lock` makes two compiles into one folder take turns; `cannot_write` turns an
OSError met while writing into one line naming the path the user knows. Apart from the
writer so that the rules for sharing a folder are one short module to read.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from compiler.errors import UsageError

_LOCK = ".gitopsc-lock"
LOCK_TIMEOUT = 600.0  # seconds a run waits for another one writing the same folder
_HELD: dict[Path, int] = {}  # output folder -> descriptor of its lock, held by this process


def real_path(out: Path) -> Path:
    """`out` with every symlink resolved. A symlinked output folder is written where it
    points: the exchange then swaps real folders (swapping the link itself would leave
    it behind as a stray build folder and the target stale), and two runs reaching one
    folder by different paths take the same lock."""
    return Path(os.path.realpath(out))


@contextlib.contextmanager
def output_lock(out: Path, waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock on the output folder `out` for the block.

    Two compiles into one folder (an editor's save and a pre-commit hook, two CI jobs in
    one workspace) take turns: the second waits, calling `waiting(message)` once, for at
    most LOCK_TIMEOUT seconds, because both runs want their result and a compile takes
    seconds, so failing would only make the user run it again by hand. The lock is an
    `flock` on `.<name>.gitopsc-lock` beside the folder, so the kernel drops it when its
    holder dies and a killed run never blocks the next. The file holds the holder's pid
    for the message and is removed on release, leaving no stray file in the repository;
    a waiter that then gets the lock of a removed file opens the new one and tries again.
    Re-entrant within a process: `write_tree` inside a held lock does not wait on itself.
    """
    out = real_path(out)
    if out in _HELD:
        yield
        return
    path = out.parent / f".{out.name}{_LOCK}"
    deadline, told = time.monotonic() + LOCK_TIMEOUT, False
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        while True:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(descriptor, 20, 0).decode(errors="replace").strip() or "?"
                os.close(descriptor)
                if time.monotonic() > deadline:
                    raise UsageError(
                        f"gave up after {LOCK_TIMEOUT:.0f} s waiting for gitopsc (pid {holder}) "
                        f"to finish writing {out}",
                        f"wait for it to finish, or stop it if it hangs (lock file {path})",
                    ) from None
                if holder != "?" and not told and waiting is not None:
                    waiting(f"waiting for gitopsc (pid {holder}) to finish writing {out}")
                    told = True
                time.sleep(0.05)
                continue
            if _same_file_at(descriptor, path):
                break
            os.close(descriptor)  # the previous holder removed this file: lock the new one
    except OSError as error:
        raise cannot_write(error, out, out) from None
    _HELD[out] = descriptor
    try:
        with contextlib.suppress(OSError):  # the pid is only for a waiter's message
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
        yield
    finally:
        del _HELD[out]
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(descriptor)


def _same_file_at(descriptor: int, path: Path) -> bool:
    try:
        here, there = os.fstat(descriptor), os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _close_locks_in_child() -> None:
    """A forked render worker inherits the lock's descriptor, and an flock lasts while any
    copy is open: a worker outliving a killed compile would hold the lock for ever."""
    for descriptor in _HELD.values():
        os.close(descriptor)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_locks_in_child)


def cannot_write(
    error: OSError, where: str | Path, out: Path | None = None, build: Path | None = None
) -> UsageError:
    """The error as one line: the path that could not be written and why (a path in the
    build or staging folder named by where it was going in `out`), and, when writing the
    output folder `out`, that its previous output is intact (every error this is called
    for comes before the commit point: the exchange, or an update's journal)."""
    if isinstance(error, shutil.Error):  # copytree: a list of (source, target, reason)
        _, where, reason = error.args[0][0]
    else:
        code = errno.errorcode.get(error.errno or 0)
        reason = f"{error.strerror} ({code})" if error.strerror and code else str(error)
    if error.errno in (errno.ENOTDIR, errno.EEXIST):  # a file where a folder should be
        file = next((p for p in reversed(Path(where).parents) if p.is_file()), None)
        reason = f"{file} is a file, not a folder" if file is not None else reason
    if build is not None and out is not None:
        where = str(where).replace(str(build), str(out), 1)
    message = f"cannot write {where}: {reason}"
    if out is not None and out.is_dir():
        message += f"; the previous output in {out} is unchanged"
    return UsageError(message)
