"""Where the published test vectors live (read-only data shared by the test suites).

The repository sits at /work/main and the vectors at /work/shared/vectors; see the README there
for sources and licences.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def vectors_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "vectors"


def load_vectors(name: str) -> Any:
    """One vectors file, parsed from JSON."""
    return json.loads((vectors_dir() / name).read_text(encoding="utf-8"))
