"""The hostile corpus through `scan_inbox` + `receive_files` + `land_slices` (bench.soak.worker), one file per
run after a full landing of the sample, then all of them in one run: hostile names, 10 million bad lines,
ZIP bombs (over and under the size limit), path traversal in a ZIP, empty, header-only, truncated, UTF-16,
binary, a 50 MiB field. Each outcome is checked (never matched, or quarantined with its reason), each run's
peak RSS measured, and the lake must end equal to the truth: hostile files never disturb landed data."""

from __future__ import annotations

import io
import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench.soak.common import Sample, ScenarioResult, check, fresh, lake_dir, land
from fidc_assets.lib.core.canonical import FILE_REGISTRY, QUARANTINE
from fidc_assets.lib.lake.archive import sha256_file
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import equal_to

#: The issue's bound for the 10-million-bad-lines file (and for the ZIP member just under its size limit).
MEMORY_LIMIT_MB = 500
TRAVERSAL_TARGET = Path("/tmp/fidc-soak-traversal.xlsx")


@dataclass
class Hostile:
    label: str
    name: str
    expected: str  # "unmatched", "no-op" (a delivery already landed) or the file's reason code ("*": any)


def _first(sample: Sample, prefix: str, suffix: str) -> Path:
    for (_d, _f), paths in sorted(sample.by_fund_day.items()):
        for p in paths:
            if p.name.startswith(prefix) and p.name.endswith(suffix):
                return p
    raise RuntimeError(f"the sample has no {prefix}*{suffix} file")


def _zip_limit() -> int:
    """custodia_gama's `archive.max_uncompressed_bytes` (the shipped spec)."""
    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.specs import load_specs

    archive = next(f.archive for f in load_specs(CUSTODIANS_DIR)["custodia_gama"].files if f.archive is not None)
    return archive.max_uncompressed_bytes


def _zip_of_zeros(target: Path, member: str, size: int) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(member, "w", force_zip64=True) as out:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                out.write(chunk)


def build_corpus(sample: Sample, rng: random.Random) -> list[tuple[Hostile, Path]]:
    """Every hostile file in a directory of its own under sample.root/hostile (mtime after the sample's)."""
    alfa = _first(sample, "ESTOQUE_", ".csv")
    if alfa.name.startswith("ESTOQUE_GAMA"):
        raise RuntimeError("expected an alfa stock CSV")
    gama = _first(sample, "ESTOQUE_GAMA_", "")
    delta = _first(sample, "posicao_", ".csv")
    stem = alfa.name.removesuffix(".csv")
    header = alfa.read_bytes().splitlines(keepends=True)[0]
    good = alfa.read_bytes()
    gama_zip = gama.with_suffix(".zip").name
    limit = _zip_limit()
    under = limit - (1 << 20)  # streamed to a temporary file, then found not to be a workbook
    fullwidth = stem.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    long_name = f"{stem}_{'A' * (255 - len(stem) - 5)}.csv"
    assert len(long_name.encode()) == 255

    def text(data: bytes):
        return lambda p: p.write_bytes(data)

    def bad_lines(p: Path) -> None:
        with p.open("wb") as f:
            f.write(header)
            line = b"x\r\n" * 100_000
            for _ in range(100):  # 10,000,000 one-column lines under a 28-column header
                f.write(line)

    def long_field(p: Path) -> None:
        lines = good.splitlines(keepends=True)
        fields = lines[1].split(b";")
        fields[5] = b"A" * (50 << 20)
        p.write_bytes(b"".join([lines[0], b";".join(fields), *lines[2:]]))

    def traversal(p: Path) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(f"../../../../..{TRAVERSAL_TARGET}", b"not a workbook")
        p.write_bytes(buf.getvalue())

    corpus: list[tuple[Hostile, object]] = [
        (Hostile("name ending in a newline", f"{alfa.name}\n", "unmatched"), text(good)),
        (Hostile("name with a tab", f"{stem}_\tX.csv", "unmatched"), text(good)),
        (Hostile("name with a bidi override", f"{stem}_\u202egsv.csv", "unmatched"), text(good)),
        (Hostile("CNPJ in fullwidth digits", f"{fullwidth}.csv", "unmatched"), text(good)),
        (Hostile("255-byte name, same bytes", long_name, "no-op"), text(good)),
        (Hostile("10 million bad lines", f"{stem}_BADLINES.csv", "too_many_rejected_rows"), bad_lines),
        (Hostile("empty file", f"{stem}_EMPTY.csv", "empty_file"), text(b"")),
        (Hostile("header only", f"{stem}_HEADER.csv", "no_rows"), text(header)),
        (Hostile("truncated (no trailer)", delta.name, "truncated_file"),
         text(delta.read_bytes()[: delta.stat().st_size // 2])),
        (Hostile("UTF-16", f"{stem}_UTF16.csv", "*"), text(good.decode("latin-1").encode("utf-16"))),
        (Hostile("binary", f"{stem}_BINARY.csv", "*"), text(rng.randbytes(256 << 10))),
        (Hostile(f"ZIP bomb ({4 * limit >> 20} MiB of zeros)", gama_zip, "archive_too_large"),
         lambda p: _zip_of_zeros(p, "estoque.xlsx", 4 * limit)),
        (Hostile(f"ZIP bomb just under the limit ({under >> 20} MiB)", gama_zip, "unreadable"),
         lambda p: _zip_of_zeros(p, "estoque.xlsx", under)),
        (Hostile("path traversal in a ZIP", gama_zip, "unreadable"), traversal),
        (Hostile("not a ZIP", gama_zip, "unreadable"), text(rng.randbytes(4096))),
    ]  # fmt: skip
    out = []
    later = max(p.stat().st_mtime for p in sample.inbox.iterdir()) + 3600
    for i, (hostile, write) in enumerate(corpus):
        target = sample.root / "hostile" / f"{i:02d}" / hostile.name
        target.parent.mkdir(parents=True, exist_ok=True)
        write(target)  # type: ignore[operator]
        os.utime(target, (later + i, later + i))
        out.append((hostile, target))
    long = sample.root / "hostile-long" / f"{stem}_LONGFIELD.csv"
    long.parent.mkdir(parents=True, exist_ok=True)
    long_field(long)
    out.append((Hostile("a 50 MiB field", long.name, "accepted, field_too_long row"), long))
    return out


def _outcome(lake: Lake, path: Path, output: dict) -> str:
    name = path.name
    if name in output.get("unmatched", []):
        return "unmatched"
    if name not in output.get("matched", []):
        return f"neither matched nor unmatched: {str(output)[:200]}"
    sha = sha256_file(path)
    regs = lake.read(FILE_REGISTRY, equal_to("sha256", sha)).to_pylist()
    if regs and all(r["original_name"] != name for r in regs):
        return "no-op"  # the same delivery was registered under its first name
    whole = [
        q for q in lake.read(QUARANTINE, equal_to("source_file_sha256", sha)).to_pylist() if q["line_number"] is None
    ]
    statuses = sorted({r["status"] for r in regs})
    if statuses == ["quarantined"] and len(whole) == 1:
        return str(whole[0]["reason_code"])
    return f"status {statuses}, whole-file quarantine rows {[q['reason_code'] for q in whole]}"


def hostile_corpus(sample: Sample, seconds: float, rng: random.Random) -> ScenarioResult:
    result = ScenarioResult("hostile corpus")
    corpus = build_corpus(sample, rng)
    lake = fresh(sample.root, "hostile-lake")
    land(lake_dir(lake), sample.inbox)
    peaks: dict[str, float] = {}
    TRAVERSAL_TARGET.unlink(missing_ok=True)
    for hostile, path in corpus[:-1]:
        result.iterations += 1
        result.faults += 1
        run = land(lake_dir(lake), path.parent)
        peaks[hostile.label] = run.peak_rss_mb
        got = _outcome(lake, path, run.output) if run.returncode == 0 else f"exit {run.returncode}"
        if run.returncode != 0:
            result.note(f"{hostile.label}: {str(run.output.get('stderr', ''))[-200:]}")
        ok = got == hostile.expected or (hostile.expected == "*" and got not in ("unmatched", "no-op", "accepted"))
        if hostile.expected == "*" and ok:
            result.note(f"{hostile.label}: {got}")
        if not ok:
            result.unrecovered += 1
            result.note(f"{hostile.label}: expected {hostile.expected}, got {got}")
    if TRAVERSAL_TARGET.exists():
        result.unrecovered += 1
        result.note(f"the ZIP's member was written to {TRAVERSAL_TARGET}")
    check(lake, sample.truth, result)

    # the sample and every hostile file (one per name) in ONE run on an empty lake: no hostile file blocks
    # the good ones landing in the same call (issue 13, defect 2), and the end equals the truth
    everything = sample.root / "hostile-all"
    everything.mkdir(exist_ok=True)
    for path in [*sample.inbox.iterdir(), *(path for _, path in corpus[:-1])]:
        if not (everything / path.name).exists():
            os.link(path, everything / path.name)
    result.iterations += 1
    all_lake = fresh(sample.root, "hostile-all-lake")
    run = land(lake_dir(all_lake), everything)
    peaks["everything in one run"] = run.peak_rss_mb
    if run.returncode != 0:
        result.unrecovered += 1
        result.note(f"everything in one run: exit {run.returncode} {str(run.output.get('stderr', ''))[-200:]}")
    check(all_lake, sample.truth, result)

    long_hostile, long_path = corpus[-1]
    result.iterations += 1
    result.faults += 1
    long_lake = fresh(sample.root, "hostile-long-lake")
    run = land(lake_dir(long_lake), long_path.parent)
    peaks[long_hostile.label] = run.peak_rss_mb
    sha = sha256_file(long_path)
    reg = long_lake.read(FILE_REGISTRY, equal_to("sha256", sha)).to_pylist()
    rejected = [q["reason_code"] for q in long_lake.read(QUARANTINE, equal_to("source_file_sha256", sha)).to_pylist()]
    good_rows = len(long_path.read_bytes().splitlines()) - 2
    if not (reg and reg[0]["status"] == "accepted" and reg[0]["rows_accepted"] == good_rows
            and rejected == ["field_too_long"]):  # fmt: skip
        result.unrecovered += 1
        result.note(f"a 50 MiB field: registry {[(r['status'], r['rows_accepted']) for r in reg]}, {rejected}")
    worst = max(peaks, key=lambda k: peaks[k])
    under = next(k for k in peaks if k.startswith("ZIP bomb just under"))
    result.note(
        f"peak RSS {peaks['10 million bad lines']:.0f} MB for 10M bad lines, {peaks[under]:.0f} MB for the "
        f"{under[len('ZIP bomb just under the limit ') :]} ZIP member just under its limit; "
        f"max {peaks[worst]:.0f} MB ({worst})"
    )
    for label in ("10 million bad lines", under):  # both streamed: bounded by the block, not the file
        if peaks[label] >= MEMORY_LIMIT_MB:
            result.unrecovered += 1
            result.note(f"{label}: peak RSS {peaks[label]:.0f} MB, over {MEMORY_LIMIT_MB} MB")
    return result
