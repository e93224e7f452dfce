"""`fidc-lake custodian list|check SPEC`: the custodian specs, or one YAML file validated as `load_spec` does.

`check` is the onboarding gate: whatever `load_spec` accepts, ingestion can apply (column maps, `@tokens`
and value maps are validated against the file's entity there, not found at ingest time)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fidc_assets.cli.common import CliError, custodians_dir, input_file


def cmd_custodian(args: argparse.Namespace) -> int:
    from fidc_assets.lib.ingest.specs import load_spec, load_specs

    if args.action == "list":
        for spec in load_specs(custodians_dir()).values():
            entities = ", ".join(f"{f.entity} ({f.format.kind})" for f in spec.files)
            print(f"{spec.id:20} {spec.name} — {entities}")
        return 0
    if not args.spec:
        raise CliError("custodian check needs the spec's path")
    spec = load_spec(input_file(Path(args.spec)))  # a SpecError is reported by main, on one line
    print(f"{args.spec}: valid spec for {spec.id} ({spec.name}), default currency {spec.default_currency}")
    for i, f in enumerate(spec.files):
        archive = f" inside ZIP ({f.archive.member_pattern})" if f.archive else ""
        print(f"  files[{i}] {f.entity}: {f.format.kind}{archive}, names matching {f.pattern}")
        for field_name, cmap in f.column_maps().items():
            source = cmap.column if cmap.column is not None else f"default {cmap.default!r}"
            extra = f" via map of {len(cmap.map)} codes" if cmap.map else ""
            print(f"      {field_name:22} ← {source}{extra}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    cust = sub.add_parser("custodian", help="custodian specs: list, or check one YAML file")
    cust.add_argument("action", choices=["check", "list"])
    cust.add_argument("spec", nargs="?", help="path of the spec YAML (for check)")
    cust.set_defaults(func=cmd_custodian)
