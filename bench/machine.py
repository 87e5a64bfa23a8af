"""The machine a benchmark runs on: what it is, and control of its page cache.

Everything here reads the system (``/proc``, ``/sys``, ``git``) so that the report says where
its figures come from; nothing here measures anything.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _first(path: str, key: str) -> str | None:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def _mount_of(path: Path) -> tuple[str, str, str]:
    """(device, mount point, filesystem type) of the mount holding ``path``."""
    target = path.resolve()
    best = ("?", "/", "?")
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return best
    for line in mounts:
        device, point, fstype, *_ = line.split()
        inside = target == Path(point) or Path(point) in target.parents
        if inside and len(point) >= len(best[1]):
            best = (device, point, fstype)
    return best


def _disk_kind(device: str) -> str:
    """What /sys says of the block device: its model and whether it claims to be rotational."""
    name = Path(device).name
    base = Path("/sys/class/block") / name
    if (base / "partition").exists():
        base = base.resolve().parent
    parts = []
    model = base / "device" / "model"
    if model.is_file():
        parts.append(model.read_text(encoding="utf-8").strip())
    driver = base / "device" / "driver"
    if driver.exists():
        parts.append(f"driver {driver.resolve().name}")
    rotational = base / "queue" / "rotational"
    if rotational.is_file():
        flag = rotational.read_text(encoding="utf-8").strip()
        parts.append("reported rotational" if flag == "1" else "reported non-rotational")
    return ", ".join(p for p in parts if p) or "unknown"


def _git() -> str:
    def run(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = run("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown"
    dirty = run("status", "--porcelain", "--untracked-files=no")
    return f"{commit} (with uncommitted changes)" if dirty else commit


def describe(workdir: Path, peer_version: str | None) -> dict[str, str]:
    """The facts the report's machine section lists, as strings."""
    from safepassage import __version__ as ours  # noqa: PLC0415 - only this needs the package

    workdir.mkdir(parents=True, exist_ok=True)
    device, point, fstype = _mount_of(workdir)
    usage = shutil.disk_usage(workdir)
    mem_kib = _first("/proc/meminfo", "MemTotal") or "0 kB"
    mem_gib = int(mem_kib.split()[0]) / 2**20
    return {
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": str(os.cpu_count()),
        "ram": f"{mem_gib:.1f} GiB",
        "disk": f"{device} ({_disk_kind(device)}), {fstype} mounted on {point}, "
        f"{usage.total / 2**30:.0f} GiB, {usage.free / 2**30:.0f} GiB free",
        "workdir": str(workdir),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "sqlite": sqlite3.sqlite_version,
        "safepassage": f"{ours} at commit {_git()}",
        "pymerkle": peer_version or "not installed",
    }


def drop_page_cache() -> str | None:
    """Write back dirty pages and drop the OS page cache; None on success, else why not."""
    os.sync()
    try:
        with Path("/proc/sys/vm/drop_caches").open("w", encoding="ascii") as f:
            f.write("3\n")
    except OSError as exc:
        return f"cannot drop the OS page cache ({exc.strerror}; needs root outside a container)"
    return None


def prefetch(path: Path) -> None:
    """Read a SQLite file and its WAL so that the OS page cache holds all of them."""
    for part in (path, path.with_name(path.name + "-wal")):
        if part.exists():
            with part.open("rb") as f:
                while f.read(1 << 20):
                    pass


def cpu_snapshot() -> tuple[float, float, float]:
    """(CPU seconds the whole machine was busy, CPU seconds of this process and its waited
    children, wall-clock seconds): two snapshots say how much CPU other processes used."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:]
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    own = os.times()
    mine = own.user + own.system + own.children_user + own.children_system
    return (sum(values) - idle) / ticks, mine, time.monotonic()


def others_share(before: tuple[float, float, float], after: tuple[float, float, float]) -> float:
    """Share of the machine's CPU capacity other processes used between two snapshots."""
    busy, mine, wall = (b - a for a, b in zip(before, after, strict=True))
    capacity = wall * (os.cpu_count() or 1)
    return max(0.0, busy - mine) / capacity if capacity > 0 else 0.0
