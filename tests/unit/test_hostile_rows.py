"""Files made of bad rows (issue 13, defect 3): rejected rows are counted without bound, but only the first
REJECTED_ROWS_KEPT are kept in detail, and a file past the limits is quarantined whole with a clear reason.

A 19 MB file of 10 million one-column lines grew the landing process past 8 GiB: one RejectedRow (and a dict)
per line. Memory is asserted indirectly: the number of RejectedRow objects ever built stays near the cap.
"""

from __future__ import annotations

import pytest

from fidc_assets.lib.ingest.adapters import FileRejected, engine
from fidc_assets.lib.ingest.readers import common as readers_common
from fidc_assets.lib.ingest.readers import delimited
from fidc_assets.lib.ingest.readers.common import MAX_REJECTED_ROWS, REJECTED_ROWS_KEPT, RejectedRow
from tests.unit.test_adapters import COLUMNS, csv, parse, row


@pytest.fixture()
def built(monkeypatch) -> list[int]:
    """Counts every RejectedRow the reader and the engine build."""
    made = [0]

    class Counted(RejectedRow):
        def __init__(self, *args, **kwargs):
            made[0] += 1
            super().__init__(*args, **kwargs)

    for module in (delimited, engine, readers_common):
        monkeypatch.setattr(module, "RejectedRow", Counted)
    return made


def test_a_file_of_millions_of_bad_lines_is_quarantined_whole_early(built):
    hostile = csv(*(["x"] * (3 * MAX_REJECTED_ROWS)))  # one-column lines under a 27-column header
    with pytest.raises(FileRejected) as info:
        parse(hostile)
    assert info.value.reason_code == "too_many_rejected_rows"
    assert f"more than {MAX_REJECTED_ROWS:,} rows were rejected by line {MAX_REJECTED_ROWS + 2}" in info.value.message
    assert "line 2: line 2 has 1 columns" in info.value.message  # the first rejection, for the analyst
    assert "resend" in info.value.message
    assert built[0] <= REJECTED_ROWS_KEPT


def test_many_bad_rows_are_counted_and_the_first_ones_kept(built):
    lines, bad_lines = [], []
    for i in range(12_000):
        if i % 4 == 1:
            lines.append("a;b")  # wrong column count (reader)
        elif i % 4 == 3:
            lines.append(row(f"R{i}", VALOR_NOMINAL="x"))  # unparseable number (engine)
        else:
            lines.append(row(f"R{i}"))
            continue
        bad_lines.append(i + 2)  # physical line: the header is line 1
    result = parse(csv(*lines))
    assert result.rows.num_rows == 6_000
    assert result.rows_rejected == 6_000 == result.control_totals["rows_rejected"]
    assert [r.line_number for r in result.rejected] == bad_lines[:REJECTED_ROWS_KEPT]
    assert {r.reason_code for r in result.rejected} == {"wrong_column_count", "unparseable_number"}
    assert all(r.raw_text for r in result.rejected)
    assert result.rejected_not_kept == 6_000 - REJECTED_ROWS_KEPT
    assert built[0] <= 3 * REJECTED_ROWS_KEPT  # reader + engine kept ones, and the kept ones given their text
    assert result.rows.column("source_line").to_pylist()[:3] == [2, 4, 6]


def test_a_file_mostly_bad_is_quarantined_whole_at_its_end():
    lines = [row(f"R{i}") if i % 3 == 0 else row(f"R{i}", DATA_EMISSAO="31/02/2024") for i in range(3_000)]
    with pytest.raises(FileRejected) as info:
        parse(csv(*lines))
    assert info.value.reason_code == "too_many_rejected_rows"
    assert "2,000 of its 3,000 rows (67%) were rejected" in info.value.message


def test_a_small_file_with_a_few_bad_rows_still_lands_its_good_ones():
    result = parse(csv(row("R1"), "a;b", row("R2", VALOR_NOMINAL="x")))
    assert result.rows.num_rows == 1 and result.rows_rejected == 2 and len(result.rejected) == 2
    assert len(COLUMNS) > 2
