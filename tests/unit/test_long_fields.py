"""A field longer than the CSV reader's block (issue 13, defect 4): it quarantined the whole file as
`unreadable` with pyarrow's "straddling object straddles two block boundaries"."""

from __future__ import annotations

import pytest

from fidc_assets.lib.ingest.readers import delimited
from tests.unit.test_adapters import csv, parse, rejected_file, row

MIB = 1 << 20


def test_a_field_longer_than_the_block_rejects_its_row_and_the_good_rows_land():
    huge = "x" * (2 * delimited.BLOCK_SIZE + MIB)  # longer than two blocks: Arrow cannot split it
    lines = [row(f"R{i}") for i in range(300)]
    lines.insert(150, row("HUGE", NOME_SACADO=huge))
    result = parse(csv(*lines))
    assert result.rows.num_rows == 300
    [bad] = result.rejected
    assert (bad.line_number, bad.reason_code) == (152, "field_too_long")
    assert "NOME_SACADO" in bad.message and f"{len(huge) / MIB:.1f} MiB" in bad.message and "line 152" in bad.message
    assert bad.raw_text is not None and len(bad.raw_text) < 1000  # the quarantine keeps a prefix, not 5 MiB
    assert result.rows.column("source_line").to_pylist()[149:151] == [151, 153]


def test_a_line_longer_than_the_limit_rejects_the_file_naming_the_line_and_the_limit(monkeypatch):
    monkeypatch.setattr(delimited, "MAX_BLOCK_SIZE", 8 * MIB)
    lines = [row("R1"), row("HUGE", NOME_SACADO="y" * (9 * MIB)), row("R3")]
    err = rejected_file(csv(*lines))
    assert err.reason_code == "field_too_long"
    assert "line 3" in err.message and "8 MiB" in err.message
    assert "straddl" not in err.message


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_the_longest_line_is_found_across_chunks(tmp_path, newline):
    data = csv(row("R1"), row("R2", NOME_SACADO="z" * (3 * MIB)), row("R3"), newline=newline)
    length, line = delimited.longest_line(data)
    assert line == 3 and length >= 3 * MIB


def test_short_lines_are_told_apart_from_long_ones_without_measuring_them():
    # what the bound decides for: no larger block, and no per-batch field length check, even for latin-1
    assert delimited.SHORT_LINE <= delimited.BLOCK_SIZE and 3 * delimited.SHORT_LINE <= delimited.MAX_FIELD_BYTES
    limit = delimited.SHORT_LINE
    for length in (10, limit // 2 - 1, limit // 2, limit - 1, limit, limit + 1, 3 * limit):
        for offset in (0, 7, limit // 2 - 3):  # where the long line starts, against the windows
            data = b"a;b\n" + b"x" * offset + b"\n" + b"y" * length + b"\n" + b"c;d" * 10
            short, quoted = delimited.lines_shorter_than(data, limit, b'"')
            longest, _, _ = delimited.scan_lines(data, b'"')
            assert not quoted
            if short:  # a proof: never claimed for a line as long as the limit
                assert longest < limit
            if longest < limit // 2:  # and always given when every line is under half of it
                assert short
    assert delimited.lines_shorter_than(b'a;"b"\n', limit, b'"') == (True, True)
