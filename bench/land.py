"""The whole landing against bare pyarrow, on the same files, each side a whole fresh process.

``make bench-land`` (or ``.venv/bin/python -m bench.land [--quick] [--sizes csv=1M,5M] ...``). For every input
(built, or reused, by `bench.ingest.inputs`: the same files as ``make bench-ingest``), three sides run
alternately ``--runs`` times each, every run a fresh ``python`` process timed from the parent (interpreter
start and imports included) with its own peak RSS (``os.wait4``'s rusage of that child):

* **bare**: bare pyarrow reads the file, converts and writes one Parquet file. For the CSV: every column read
  as text (latin-1, ``;``), the BR money columns (``1.234,56``) → decimal(18,2), the dd/mm/yyyy columns →
  date32, batches streamed into a ``ParquetWriter``. CNAB/XLSX/JSON: `bench.ingest.runners`' baselines.
* **land**: ``receive_files`` + ``land_slices`` (archive, sha256, registry, parse, type, validate, quarantine,
  Iceberg commit) into a fresh local lake (`Lake.local` in a new directory): the Dagster assets' path.
* **cli**: ``fidc-lake ingest FILE`` with ``FIDC_HOME`` a new directory (a fresh lake).

The report (Markdown, also saved to ``bench/out/land-results.md``) gives medians, ratios to bare and peak
RSS, the git revision and the load average before and after each input. Nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ingest.common import KINDS, LABELS, MIB, OUT_DIR, ROOT, TMP_DIR, Input, log

DEFAULT_SIZES: dict[str, tuple[int, ...]] = {
    "csv": (1_000_000, 5_000_000, 10_000_000),
    "cnab": (999_997,),
    "xlsx": (100_000,),
    "json": (200_000,),
}
QUICK_FACTOR = 10
SIDES = ("bare", "land", "cli")
RESULTS_FILE = OUT_DIR / "land-results.md"


# -- the child sides ------------------------------------------------------------------------------------------
def _bare_csv(path: Path, out: Path, p: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as compute
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    pc: Any = compute
    with path.open("rb") as f:
        header = f.readline().decode(p["python_encoding"]).rstrip("\r\n").split(p["delimiter"])
    read = pcsv.ReadOptions(use_threads=False, block_size=4 << 20, encoding=p["encoding"])
    parse = pcsv.ParseOptions(delimiter=p["delimiter"], quote_char=p["quote_char"] or False)
    convert = pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False)
    reader = pcsv.open_csv(str(path), read_options=read, parse_options=parse, convert_options=convert)
    money, dates = set(p["money"]), set(p["dates"])
    rows, writer = 0, None
    for batch in reader:
        cols = []
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            if name in money:
                text = pc.replace_substring(pc.replace_substring(col, ".", ""), ",", ".")
                col = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.decimal128(18, 2))
            elif name in dates:
                stamp = pc.strptime(pc.if_else(pc.equal(col, ""), None, col), format="%d/%m/%Y", unit="s")
                col = pc.cast(stamp, pa.date32())
            cols.append(col)
        table = pa.Table.from_arrays(cols, names=batch.schema.names)
        if writer is None:
            writer = pq.ParquetWriter(out, table.schema)
        writer.write_table(table)
        rows += table.num_rows
    if writer is not None:
        writer.close()
    return {"rows_out": rows}


def _bare(kind: str, path: Path, out: Path, p: dict[str, Any]) -> dict[str, Any]:
    from bench.ingest import runners

    if kind == "csv":
        return _bare_csv(path, out, p)
    run = {"cnab": runners._baseline_cnab, "xlsx": runners._baseline_xlsx, "json": runners._baseline_json}[kind]
    return {"rows_out": run(path, out, p)["rows_out"]}


def _land(path: Path, lake_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.landing import InboxFile, land_slices, receive_files
    from fidc_assets.lib.ingest.specs import load_specs, match_file
    from fidc_assets.lib.lake.catalog import Lake

    imported = time.perf_counter()
    specs = load_specs(CUSTODIANS_DIR)
    m = match_file(path.name, specs)
    assert m is not None, f"{path.name} matches no custodian"
    lake = Lake.local(lake_dir)
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    receive_files(lake, [(InboxFile(path, mtime), m)])
    received = time.perf_counter()
    day, fund = m.reference_date, m.fund_cnpj
    report = land_slices(lake, specs, [day], entities=[m.file_spec.entity], day_funds=[(day, fund)])
    landed = time.perf_counter()
    return {
        "rows_out": report.rows_accepted,
        "rejected": report.rows_rejected,
        "commits": report.commits,
        "split_s": {"imports": imported - started, "receive": received - imported, "land": landed - received},
    }


def run_one(side: str, kind: str, path: Path, out: Path, params: dict[str, Any]) -> dict[str, Any]:
    if side == "bare":
        return _bare(kind, path, out, params)
    return _land(path, out)


# -- the parent -----------------------------------------------------------------------------------------------
@dataclass
class Runs:
    side: str
    seconds: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)  # user + system CPU seconds of the child (wait4)
    details: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_s) if self.cpu_s else float("nan")

    @property
    def peak(self) -> float:
        return max(self.rss_mib) if self.rss_mib else float("nan")


def _bare_params(inp: Input) -> dict[str, Any]:
    """What the bare side needs beyond bench.ingest's params: the CSV's money and date columns (from its spec)."""
    params = dict(inp.params)
    if inp.kind != "csv":
        return params
    import pyarrow as pa

    from fidc_assets.lib.core.canonical import ENTITIES, arrow_schema
    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.specs import load_specs, match_file

    m = match_file(inp.path.name, load_specs(CUSTODIANS_DIR))
    assert m is not None
    schema = arrow_schema(ENTITIES[m.file_spec.entity])
    money, dates = [], []
    for name, cmap in m.file_spec.column_maps().items():
        if not cmap.column or name not in schema.names:
            continue
        t = schema.field(name).type
        if pa.types.is_decimal(t) and t.scale == 2:
            money.append(cmap.column)
        elif pa.types.is_date(t):
            dates.append(cmap.column)
    enc: str = getattr(m.file_spec.format, "encoding", "utf-8")
    params.update(money=money, dates=dates, python_encoding="utf-8" if enc == "utf-8-sig" else enc)
    return params


def child_env(**extra: str) -> dict[str, str]:
    """The children's environment: bytecode caching on (PYTHONDONTWRITEBYTECODE would make every fresh process
    compile pyiceberg, pandas, sqlalchemy and fidc_assets from source, seconds that no deployment pays), and
    this checkout first on the path (so `fidc-lake` runs the code measured here)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**env, **extra}


def warm_up() -> None:
    """Import what every side imports once, writing the bytecode caches the measured runs then read."""
    modules = ("pyarrow.csv", "pyarrow.parquet", "python_calamine", "fidc_assets.lib.ingest.landing",
               "fidc_assets.cli.ingest", "fidc_assets.lib.core.shipped", "bench.ingest.runners")  # fmt: skip
    code = f"import importlib\nfor m in {modules!r}: importlib.import_module(m)"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(), check=True)


def _run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str, int]:
    """Wall seconds, peak RSS MiB and CPU seconds (this child's own, from wait4), stdout, exit status."""
    env = env or child_env()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        if proc.returncode:
            text += "\n" + err.read().decode(errors="replace")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, text, proc.returncode


def measure_once(side: str, inp: Input, params: dict[str, Any]) -> tuple[float, float, float, dict[str, Any] | str]:
    scratch = Path(tempfile.mkdtemp(prefix=f"land-{side}-", dir=TMP_DIR))
    try:
        if side == "cli":
            env = child_env(FIDC_HOME=str(scratch))
            for name in ("FIDC_ICEBERG_CATALOG_URI", "FIDC_WAREHOUSE", "FIDC_ARCHIVE"):
                env.pop(name, None)
            fidc_lake = str(Path(sys.executable).parent / "fidc-lake")
            seconds, rss, cpu, text, rc = _run_child([fidc_lake, "ingest", str(inp.path)], env)
            landed = next((line for line in text.splitlines() if line.startswith("landed:")), None)
            return seconds, rss, cpu, ({"summary": landed} if rc == 0 and landed else f"exit {rc}: {text[-300:]}")
        out = scratch / ("out.parquet" if side == "bare" else "lake")
        cmd = [sys.executable, "-m", "bench.land", "--one", side, "--kind", inp.kind, "--input", str(inp.path),
               "--output", str(out), "--params", json.dumps(params)]  # fmt: skip
        seconds, rss, cpu, text, rc = _run_child(cmd)
        try:
            return seconds, rss, cpu, json.loads(text.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            return seconds, rss, cpu, f"exit {rc}: {text[-300:]}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(inp: Input, sides: list[str], runs: int) -> dict[str, Runs]:
    params = _bare_params(inp)
    results = {s: Runs(s) for s in sides}
    for run in range(1, runs + 1):
        for side in sides:
            seconds, rss, cpu, detail = measure_once(side, inp, params)
            r = results[side]
            if isinstance(detail, str):
                r.errors.append(detail)
                log(f"  {LABELS[inp.kind]} {inp.rows:,} {side} run {run}: FAILED {detail[:200]}")
                continue
            r.seconds.append(seconds)
            r.rss_mib.append(rss)
            r.cpu_s.append(cpu)
            r.details.append(detail)
            shown = f"{seconds:.2f} s, CPU {cpu:.2f} s, peak RSS {rss:,.0f} MiB"
            log(f"  {LABELS[inp.kind]} {inp.rows:,} {side} run {run}: {shown}")
    return results


def _load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def _revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "fidc_assets", "bench")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")


def render(rows: list[tuple[Input, dict[str, Runs], str, str]], argv: list[str], revision: str) -> str:
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# `bench.land`: whole landing vs bare pyarrow",
        "",
        f"- command: `python -m bench.land {' '.join(argv)}`",
        f"- code revision: {revision}; finished {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- nproc {os.cpu_count()}; `uptime` at the end: {uptime}",
        "",
        "| format | rows | file MiB | bare s | land s | land/bare | cli s | cli/land | bare CPU s | land CPU s"
        " | land/bare CPU | bare RSS | land RSS | cli RSS | load before → after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def cell(r: Runs | None, what: str) -> str:
        if r is None or not r.seconds:
            return "—"
        return {"s": f"{r.median:.2f}", "c": f"{r.cpu:.2f}"}.get(what) or f"{r.peak:,.0f}"

    notes = []
    for inp, res, before, after in rows:
        bare, land, cli = res.get("bare"), res.get("land"), res.get("cli")
        ratio = f"{bare.median / land.median:.2f}" if bare and land and bare.seconds and land.seconds else "—"
        cpu_ratio = f"{bare.cpu / land.cpu:.2f}" if bare and land and bare.cpu_s and land.cpu_s else "—"
        cli_ratio = f"{cli.median / land.median:.2f}" if cli and land and cli.seconds and land.seconds else "—"
        lines.append(
            f"| {LABELS[inp.kind]} | {inp.rows:,} | {inp.bytes / MIB:,.1f} | {cell(bare, 's')} | {cell(land, 's')} "
            f"| {ratio} | {cell(cli, 's')} | {cli_ratio} | {cell(bare, 'c')} | {cell(land, 'c')} | {cpu_ratio} "
            f"| {cell(bare, 'm')} | {cell(land, 'm')} | {cell(cli, 'm')} "
            f"| {before} → {after} |"
        )
        for r in res.values():
            runs = ", ".join(f"{s:.2f}" for s in r.seconds)
            cpus = ", ".join(f"{c:.2f}" for c in r.cpu_s)
            rss = ", ".join(f"{m:,.0f}" for m in r.rss_mib)
            notes.append(f"- {LABELS[inp.kind]} {inp.rows:,} {r.side}: wall {runs} s; CPU {cpus} s; RSS {rss} MiB")
            if r.details and "split_s" in r.details[0]:
                keys = r.details[0]["split_s"]
                split = {k: round(statistics.median(d["split_s"][k] for d in r.details), 2) for k in keys}
                rows_out = {d.get("rows_out") for d in r.details}
                notes.append(f"  - in-process split (median s): {split}; rows landed {rows_out}")
            if r.details and "summary" in r.details[0]:
                notes.append(f"  - `{r.details[0]['summary']}`")
            for e in r.errors:
                notes.append(f"  - FAILED: {e[:300]}")
    lines += [
        "",
        "Ratios: land/bare = bare median wall s ÷ land median wall s; cli/land = cli median s ÷ land median s;"
        " land/bare CPU = the same with the children's user + system CPU seconds (less sensitive to other load"
        " on the machine than wall time, but blind to what threads overlap).",
        "",
    ]
    return "\n".join(lines + notes) + "\n"


def _sizes(values: list[str]) -> dict[str, tuple[int, ...]]:
    """`csv=1M,5M` `cnab=999997` ... → {kind: rows}."""
    out: dict[str, tuple[int, ...]] = {}
    for value in values:
        kind, _, text = value.partition("=")
        if kind not in KINDS:
            raise SystemExit(f"--sizes {value}: unknown format {kind!r}; known: {', '.join(KINDS)}")
        factor = {"k": 1_000, "m": 1_000_000}
        out[kind] = tuple(
            int(float(v[:-1]) * factor[v[-1].lower()]) if v[-1].lower() in factor else int(v)
            for v in text.replace("_", "").split(",")
            if v
        )
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.land", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"default sizes {QUICK_FACTOR}x smaller")
    parser.add_argument("--sizes", action="append", default=[], help="FORMAT=ROWS[,ROWS] (1M, 100k), repeatable")
    parser.add_argument("--formats", default=None, help=f"comma list of {', '.join(KINDS)} (default: all)")
    parser.add_argument("--sides", default=",".join(SIDES), help=f"comma list of {', '.join(SIDES)}")
    parser.add_argument("--runs", type=int, default=3, help="runs per side, alternating; medians kept (default 3)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--one", choices=("bare", "land"), help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.kind, args.input, args.output, json.loads(args.params))))
        return 0
    from bench.ingest.inputs import Inputs

    TMP_DIR.mkdir(parents=True, exist_ok=True)
    sizes = _sizes(args.sizes)
    kinds = args.formats.split(",") if args.formats else (list(sizes) if sizes else list(KINDS))
    sides = [s for s in args.sides.split(",") if s]
    revision = _revision()
    warm_up()
    inputs = Inputs(args.seed, 0.0, [])
    rows: list[tuple[Input, dict[str, Runs], str, str]] = []
    for kind in kinds:
        wanted = sizes.get(kind) or tuple(max(1, r // QUICK_FACTOR) if args.quick else r for r in DEFAULT_SIZES[kind])
        for n in wanted:
            inp = inputs.get(kind, n)
            if inp is None:
                continue
            log(f"measuring {LABELS[kind]} {n:,} rows ({inp.bytes / MIB:,.1f} MiB), load {_load()}")
            before = _load()
            rows.append((inp, measure(inp, sides, args.runs), before, _load()))
    report = render(rows, argv, revision)
    RESULTS_FILE.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
