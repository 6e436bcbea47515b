"""Writing a file so that readers see the old or the new version, never half of one, and never a link's target.

`write_atomically` writes into a fresh temporary file beside the target (created with `O_EXCL`, so nothing
planted there is opened) and renames it over the target. A rename replaces a symbolic link at the target by
the new file instead of writing where the link points: a run directory in which someone planted
`summary.md -> ~/.bashrc` gets a new `summary.md`, and `~/.bashrc` is untouched. A failed or killed write
leaves the target as it was (and at most a hidden `.<name>.*.tmp` file, removed when the error is raised).
"""

from __future__ import annotations

import os
import secrets
from typing import BinaryIO, Callable

__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object] | bytes | str) -> None:
    """Replaces `path` by a file written in full first, without following a link at `path`.

    Args:
        path: The file to (re)write; its folder must exist. A symbolic link at `path` is replaced, its
            target is not touched.
        write: The content (`bytes`, or `str` written as UTF-8), or a function that writes it into the
            binary file handle it receives (e.g. `lambda f: np.savez(f, **arrays)`).

    Raises:
        IsADirectoryError: If `path` is a folder.
        OSError: If the folder is not writable; the target is then unchanged.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> write_atomically(os.path.join(folder, "summary.md"), "# Done\\n")
        >>> open(os.path.join(folder, "summary.md")).read()
        '# Done\\n'
    """
    path = os.fspath(path)
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError(f"Cannot write {path}: it is a folder.")
    folder, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: a file or link planted at the temporary name is refused, not opened; mode 0666 minus the umask,
    # as `open(path, "w")` would give.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if isinstance(write, str):
                handle.write(write.encode("utf-8"))
            elif isinstance(write, bytes):
                handle.write(write)
            else:
                write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise

