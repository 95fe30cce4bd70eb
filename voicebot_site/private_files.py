"""Files that hold people's data (recordings, kept webhook payloads): readable by the service's own user only.

One opener for every such file, so the mode does not depend on the umask or on which code wrote the file.
"""
import os
from pathlib import Path
from typing import BinaryIO


def private_file_open(path: Path) -> BinaryIO:
    """Create (or empty) the file at `path` for writing: the file mode 0600, each folder made for it 0700.

    A recording is a person's voice, a kept callback a person's call: only the user the service runs as may read
    them, whatever the umask.
    """
    missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file was already there
    return os.fdopen(fd, "wb")
