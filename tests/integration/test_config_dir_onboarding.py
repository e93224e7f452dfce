"""Onboarding a custodian is dropping its YAML file into the deployment's configuration directory, nothing else.

A configuration directory made with `fidc-lake config init` (`write_config_dir`) outside the package gets one
new spec, in a layout none of the shipped custodians use (tab-separated UTF-8, lower-case abbreviated column
names, dd-mm-yyyy dates, a nota promissória among the rows); FIDC_CONFIG_DIR points at it. The real Dagster
definitions then do the rest: the inbox sensor matches the file to the new custodian and requests its run,
and the `ingest_files` job (in process) lands its rows in the lake. The package is never touched.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from fidc_assets.config_init import write_config_dir
from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.documents import cnpj_check_digits, cpf_check_digits
from fidc_assets.lib.core.funds import Fund, FundRegistry, Manager, write_fund_registry
from fidc_assets.lib.core.shipped import SHIPPED
from fidc_assets.lib.ingest.specs import load_specs, match_file
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.settings import Settings

pytestmark = pytest.mark.integration

FUND = "556677880001" + cnpj_check_digits("556677880001")
CEDENTE = "990011220001" + cnpj_check_digits("990011220001")
SACADO = "987654321" + cpf_check_digits("987654321")
DAY = dt.date(2024, 7, 2)
FILE_NAME = f"SIGMA-{FUND}-{DAY:%Y%m%d}.tsv"

SPEC = textwrap.dedent(
    r"""
    id: custodia_sigma
    name: Sigma Serviços Fiduciários S.A.
    files:
      - entity: receivable_positions
        pattern: '^SIGMA-(?P<fund>\d{14})-(?P<date>\d{8})\.tsv$'
        format:
          kind: delimited
          delimiter: "\t"
          quote_char: null
          date_formats: ['%d-%m-%Y']
        columns:
          fund_cnpj: cd_fundo
          reference_date: dt_base
          receivable_id: nr_titulo
          asset_type: {column: tp_ativo, map: {dup: DM, np: NP, ccb: CCB}}
          cedente_doc: nr_doc_cedente
          cedente_name: nm_cedente
          sacado_doc: nr_doc_sacado
          due_date: dt_vencto
          nominal_value: vl_face
          present_value: vl_presente
          pdd_value: vl_pdd
    """
)
ROWS = [("S-1", "dup", "1500.00", "1480.25"), ("S-2", "np", "2500.50", "2400.00"), ("S-3", "ccb", "99.50", "97.00")]


def _file_bytes() -> bytes:
    header = "cd_fundo\tdt_base\tnr_titulo\ttp_ativo\tnr_doc_cedente\tnm_cedente\tnr_doc_sacado\tdt_vencto\tvl_face\t"
    lines = [header + "vl_presente\tvl_pdd"]
    due = DAY + dt.timedelta(days=45)
    for titulo, kind, face, present in ROWS:
        lines.append(
            f"{FUND}\t{DAY:%d-%m-%Y}\t{titulo}\t{kind}\t{CEDENTE}\tCedente Sigma Ltda\t{SACADO}\t{due:%d-%m-%Y}\t"
            f"{face}\t{present}\t0.00"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture()
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A deployment's environment: its own state dir, fund registry and configuration directory."""
    config = tmp_path / "etc" / "fidc"
    write_config_dir(config)
    (config / "custodians" / "custodia_sigma.yaml").write_text(SPEC, encoding="utf-8")  # the onboarding

    for var in ("FIDC_INBOX", "FIDC_FUNDS", "FIDC_ICEBERG_CATALOG_URI", "FIDC_WAREHOUSE", "FIDC_PG_DSN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FIDC_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("FIDC_CONFIG_DIR", str(config))
    settings = Settings.from_env()
    write_fund_registry(
        settings.funds_file,
        FundRegistry(
            managers=(Manager(id="sigma_gestao", name="Sigma Gestão"),),
            funds=(Fund(cnpj=FUND, name="FIDC SIGMA", manager="sigma_gestao", custodians=("custodia_sigma",)),),
        ),
    )
    inbox = Path(settings.inbox)
    inbox.mkdir(parents=True)
    (inbox / FILE_NAME).write_bytes(_file_bytes())
    return settings


def test_a_custodian_only_in_the_config_dir_lands_its_file_through_the_sensor(deployment: Settings, dbt_manifest):
    from fidc_assets.definitions import defs
    from fidc_assets.defs.resources import LakehouseResource

    assert not (SHIPPED.custodians / "custodia_sigma.yaml").exists()
    assert match_file(FILE_NAME, load_specs(SHIPPED.custodians)) is None  # the shipped configuration knows nothing

    definitions = defs()
    sensor = definitions.resolve_sensor_def("inbox_sensor")
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(resources={"lakehouse": LakehouseResource()}, instance=instance) as ctx:
            tick = sensor(ctx)
        assert isinstance(tick, dg.SensorResult)
        [add_funds] = tick.dynamic_partitions_requests or []
        assert isinstance(add_funds, dg.AddDynamicPartitionsRequest)
        instance.add_dynamic_partitions(add_funds.partitions_def_name, list(add_funds.partition_keys))
        [request] = tick.run_requests or []
        assert request.partition_key == f"{DAY.isoformat()}|{FUND}"
        assert (request.tags["fidc/files"], request.tags["fidc/file_count"]) == (FILE_NAME, "1")

        job = definitions.resolve_job_def("ingest_files")
        result = job.execute_in_process(partition_key=request.partition_key, instance=instance, tags=request.tags)
    assert result.success

    lake = Lake(deployment.iceberg_catalog_uri, deployment.warehouse)
    landed = lake.read(canonical.RECEIVABLE_POSITIONS).to_pylist()  # a new lake: only this delivery is in it
    assert {r["custodian_id"] for r in landed} == {"custodia_sigma"}
    assert sorted((r["receivable_id"], r["asset_type"]) for r in landed) == [
        ("S-1", "DM"),
        ("S-2", "NP"),
        ("S-3", "CCB"),
    ]
    assert sum(r["nominal_value"] for r in landed) == Decimal("4100.00")
    assert {(r["fund_cnpj"], r["reference_date"], r["currency"]) for r in landed} == {(FUND, DAY, "BRL")}
    assert [r["source_line"] for r in sorted(landed, key=lambda r: r["receivable_id"])] == [2, 3, 4]
    registry = lake.read(canonical.FILE_REGISTRY).to_pylist()
    assert [(r["original_name"], r["custodian_id"], r["status"]) for r in registry] == [
        (FILE_NAME, "custodia_sigma", "accepted")
    ]
    assert lake.read(canonical.QUARANTINE).num_rows == 0
