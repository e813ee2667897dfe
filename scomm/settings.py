"""Settings read from the environment, each with an embedded default.

``SCOMM_DATA_DIR``  where the public datasets are (default: ``../shared/data`` beside the
                    working directory if it exists, else ``~/.local/share/scomm/data``).
``SCOMM_DB``        the event store URL (default: a SQLite file ``scomm.sqlite`` in the
                    working directory); ``postgresql://...`` selects PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    env = os.environ.get("SCOMM_DATA_DIR")
    if env:
        return Path(env).expanduser()
    for candidate in (
        Path.cwd() / "../shared/data",
        Path(__file__).resolve().parents[2] / "shared/data",
    ):
        if candidate.is_dir():
            return candidate.resolve()
    return Path.home() / ".local/share/scomm/data"


def database_url() -> str:
    return os.environ.get("SCOMM_DB", "sqlite:///scomm.sqlite")
