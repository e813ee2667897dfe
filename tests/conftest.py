"""Shared fixtures.

``store_url``: a fresh, empty event store URL per test, on SQLite (a file in ``tmp_path``) and,
when ``SCOMM_TEST_POSTGRES_URL`` names a server, on PostgreSQL (a schema of its own, dropped
after the test).

``written_chunks``: the size (templates) of each chunk a gallery generation is written in, in
order, for the test's writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from scomm.biometrics import storage
from tests.fuzz.processes import postgres_schema

POSTGRES_ENV = "SCOMM_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.sqlite"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server to test against")
    # Every connection the store opens (in this process or a worker subprocess) lands in the
    # test's own schema, dropped after the test.
    with postgres_schema(base, "test") as url:
        yield url


@pytest.fixture()
def written_chunks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    chunks: list[int] = []
    append = storage.GenerationWriter.append

    def counted(self: storage.GenerationWriter, chunk: storage.Columns) -> None:
        chunks.append(chunk.entries)
        append(self, chunk)

    monkeypatch.setattr(storage.GenerationWriter, "append", counted)
    return chunks
