"""Putting a rebuilt embedded collection in place of the old one, crash-safe, and the folders such work leaves.

``recallrank doctor --repair`` and ``recallrank index --reembed`` build a replacement beside the collection
(``.NAME.rebuild-*``), then swap it in: the old folder becomes a kept backup (``.NAME.damaged-*`` or
``.NAME.before-reembed-*``) and the rebuilt one takes the collection's name. A swap

1. writes a journal, ``.NAME.swap.json``, naming the rebuilt folder and the backup name (atomically, fsynced),
2. renames the collection to the backup name, then the rebuilt folder to the collection's name,
3. removes the journal.

A swap stopped anywhere (SIGKILL, Ctrl-C, power loss) is finished by the next open from the journal alone: exactly
the rebuild it names, never another leftover folder. A rebuild stopped before its journal was written never
replaces anything; :func:`leftovers` lists such folders (and the backups) with their sizes for ``recallrank doctor``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recallrank.errors import StoreCorruptedError

#: leftover kinds -> what they are, as ``recallrank doctor`` describes them
KINDS = {
    "rebuild": "a rebuild that was never swapped in (an interrupted --reembed or repair)",
    "before-reembed": "the collection as it was before an `index --reembed` (a backup)",
    "damaged": "the damaged collection a repair set aside (a backup)",
    "damaged-wal": "a write-ahead log a repair set aside because it could not be read",
    "creating": "a collection whose creation was interrupted (never held data)",
}


def journal_path(location: Path) -> Path:
    """Where the swap journal of the collection at ``location`` lives (beside it, hidden)."""
    return location.parent / f".{location.name}.swap.json"


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically: a temporary file, fsync, rename over ``path``, fsync of the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make renames inside ``folder`` durable (where the platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def swap(location: Path, rebuilt: Path, backup: Path) -> None:
    """Put the folder ``rebuilt`` at ``location``, moving what is there to ``backup`` (see the module docstring)."""
    journal = journal_path(location)
    if journal.exists():  # an earlier swap of this collection is unfinished: finish it first, never overwrite it
        finish_swap(location)
    write_json(journal, {"rebuilt": rebuilt.name, "backup": backup.name})
    finish_swap(location)


def finish_swap(location: Path) -> bool:
    """Finish the swap the journal beside ``location`` records, if there is one; returns whether there was.

    Idempotent: every step checks what is already done, so a swap stopped at any point, or finished concurrently
    by another process, ends in the same place."""
    journal = journal_path(location)
    prefix = f".{location.name}."
    try:
        entry = json.loads(journal.read_text(encoding="utf-8"))
        rebuilt, backup = location.parent / entry["rebuilt"], location.parent / entry["backup"]
        names = (entry["rebuilt"], entry["backup"])
        if not all(isinstance(n, str) and "/" not in n and "\\" not in n for n in names) \
                or not entry["rebuilt"].startswith(f"{prefix}rebuild-") \
                or not any(entry["backup"].startswith(f"{prefix}{k}-") for k in ("damaged", "before-reembed")):
            raise ValueError(f"it names {names!r}, not a .{location.name}.rebuild-* folder and a backup name")
        if location.exists() and rebuilt.exists() and backup.exists():  # before the first rename: no backup yet
            raise ValueError(f"its backup name {backup.name} is taken")
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError) as exc:
        rebuilds = sorted(p.name for p in location.parent.glob(f"{prefix}rebuild-*")
                          if (p / "recallrank.json").exists())
        todo = ("the collection folder exists, so delete the journal to use it as it is" if location.exists() else
                "the collection folder is missing: rename the rebuild you meant ("
                f"{', '.join(rebuilds) or 'none found'}) to {location.name!r}, then delete the journal")
        raise StoreCorruptedError(f"the swap journal {journal} is unreadable or was edited ({exc}); {todo}") from exc
    if rebuilt.exists():
        if location.exists():
            _rename(location, backup)
        _rename(rebuilt, location)
    if not location.exists():
        raise StoreCorruptedError(
            f"an interrupted swap of {location} cannot be finished: neither the collection nor the rebuilt folder "
            f"{rebuilt.name} exists" + (f"; the previous collection is kept as {backup}" if backup.exists() else ""))
    sync_folder(location.parent)
    journal.unlink(missing_ok=True)
    return True


def _rename(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        if src.exists():  # the target's folder vanished: a real error
            raise
        # another process finished this step first


@dataclass(frozen=True)
class Leftover:
    """A folder beside a collection left by a rebuild, a swap or a repair."""

    path: str
    kind: str
    bytes: int

    @property
    def what(self) -> str:
        return KINDS.get(self.kind, self.kind)


def leftovers(location: Path) -> list[Leftover]:
    """Every ``.NAME.<kind>-*`` folder beside the collection at ``location``, oldest first; a rebuild the swap
    journal still names is not listed (the next open puts it in place)."""
    named: set[str] = set()
    try:
        entry = json.loads(journal_path(location).read_text(encoding="utf-8"))
        named = {str(entry.get("rebuilt"))} if isinstance(entry, dict) else set()
    except (OSError, ValueError):
        pass
    prefix = f".{location.name}."
    out = []
    if not location.parent.is_dir():
        return []
    for path in location.parent.iterdir():
        if not path.name.startswith(prefix) or not path.is_dir() or path.is_symlink() or path.name in named:
            continue
        rest = path.name[len(prefix):]
        kind = next((k for k in sorted(KINDS, key=len, reverse=True) if rest.startswith(f"{k}-")), None)
        if kind is not None:
            out.append(Leftover(str(path), kind, folder_bytes(path)))
    return sorted(out, key=lambda x: (os.stat(x.path).st_mtime, x.path))


def remove_leftovers(location: Path) -> list[Leftover]:
    """Delete what :func:`leftovers` lists; returns what was deleted."""
    found = leftovers(location)
    for item in found:
        shutil.rmtree(item.path)
    return found


def folder_bytes(path: Path) -> int:
    """Bytes on disk of the files under ``path`` (sparse files count what they occupy)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += min(st.st_size, st.st_blocks * 512) if hasattr(st, "st_blocks") else st.st_size
    return total


def human_bytes(n: int) -> str:
    """``1536`` -> ``'1.5 KB'``."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
