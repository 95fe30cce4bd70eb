"""The AI/ files of a live call, parsed once per version of the files rather than once per call.

Reading and validating AI/ (a profile's files over AI/'s own) costs 5-30 ms of YAML and Pydantic per call, which
the callee would wait for before the first words. The parsed configuration is kept per (AI dir, profile) together
with the size and modification time of every file under both folders: a live edit (or a new, removed or renamed
file) changes that signature, and the next call reads the files again, errors included.
"""
from __future__ import annotations

import threading
from pathlib import Path

from calls.agent_config import PROFILES, AgentConfig, load_agent_config

_cache: dict[tuple[str, str], tuple[tuple, AgentConfig]] = {}
_lock = threading.Lock()


def _signature(ai_dir: Path, profile: str) -> tuple:
    folders = [ai_dir / "prompts", ai_dir / "tools"] + ([ai_dir / PROFILES / profile] if profile else [])
    files = []
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
            info = path.stat()
            files.append((str(path), info.st_size, info.st_mtime_ns))
    return tuple(files)


def agent_config_cached(ai_dir: Path | str, profile: str = "") -> AgentConfig:
    """`load_agent_config(ai_dir, profile)`, parsed again only when a file under it changed."""
    root = Path(ai_dir)
    signature = _signature(root, profile)
    key = (str(root), profile)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1]
    config = load_agent_config(root, profile)  # raises AgentConfigError as ever: nothing broken is kept
    with _lock:
        _cache[key] = (signature, config)
    return config
