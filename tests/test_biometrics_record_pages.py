"""Records laid out by page: none straddles more pages than its size needs, none is changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _biometric_templates import random_template
from hypothesis import given, settings
from hypothesis import strategies as st

from scomm.biometrics import matcher, storage
from scomm.biometrics.gallery import Gallery
from scomm.biometrics.record_pages import RECORD_PAGE, lay_out, pages_spanned
from scomm.biometrics.synthetic import Population


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(1, 200), max_size=30),
    st.integers(0, 63),
    st.sampled_from([16, 64]),
)
def test_records_are_moved_to_a_page_only_where_they_would_straddle_one_more(
    sizes: list[int], origin: int, page: int
) -> None:
    starts = np.cumsum([0, *sizes], dtype=np.int64)
    records = (np.arange(int(starts[-1])) % 251 + 1).astype(np.uint8)  # no zero byte
    out, placed = lay_out(records, starts, origin, page)
    assert placed[0] == 0 and placed[-1] == out.shape[0]
    if sizes:
        assert (origin + out.shape[0]) % page == 0  # the next chunk starts a page
    for i, size in enumerate(sizes):
        at = int(placed[i])
        assert np.array_equal(out[at : at + size], records[starts[i] : starts[i + 1]])
        gap = out[at + size : placed[i + 1]]
        assert gap.shape[0] < page and not gap.any()  # zero, and less than a page
        fewest = -(-size // page)
        if i > 0:  # the first goes where the chunk starts, written after what came before
            assert pages_spanned(origin + at, size, page) == fewest
        if i + 1 < len(sizes) and gap.shape[0] > 0:
            # moved on only because the next would have straddled one page more
            nxt = sizes[i + 1]
            assert pages_spanned(origin + at + size, nxt, page) > -(-nxt // page)


def _padded_right(directory: Path) -> int:
    """Checks that every record of a gallery's generation but the file's first spans the
    fewest pages its size allows, followed by zeros only; the records checked."""
    manifest = storage.read_manifest(directory)
    gen = directory / f"gen-{manifest.generation}"
    _dtype, _shape, header = storage._npy_header(gen / "template_bytes.npy")
    data = np.load(gen / "template_bytes.npy")
    starts = np.load(gen / "template_starts.npy")
    offsets = np.load(gen / "offsets.npy")
    for e in range(starts.shape[0] - 1):
        s, t = int(starts[e]), int(starts[e + 1])
        k = int(offsets[e + 1] - offsets[e])
        size = len(matcher.encode_template(matcher.decode_template(data[s:t], k)))
        assert not data[s + size : t].any() and t - (s + size) < RECORD_PAGE
        if e > 0:
            assert pages_spanned(header + s, size) == -(-size // RECORD_PAGE), e
    return starts.shape[0] - 1


def test_a_built_gallery_and_its_compaction_lay_records_out_by_page(tmp_path: Path) -> None:
    items = Population()(0, 40)
    built = Gallery.build(tmp_path / "g", iter(items), chunk=8, workers=1)
    assert _padded_right(tmp_path / "g") == 40
    probe = {1: items[7][1][1]}
    found = built.search(probe, 3)
    assert found[0].subject_id == items[7][0]
    built.enroll("extra", {1: random_template(77)})
    built.remove(items[3][0])
    built.compact()
    assert _padded_right(tmp_path / "g") == 40
    again = Gallery.open(tmp_path / "g")
    assert again.search(probe, 3)[0] == found[0]
