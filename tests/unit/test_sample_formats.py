"""The sample generator's six custodian formats, parsed independently of the renderers.

Each format gets its own strict reader here (csv / python_calamine / zipfile / fixed-width slicing / json);
the rows it rejects must be exactly those in quarantine_expected.csv, and the rows it accepts must add up
to the truth files to the centavo.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import re
import zipfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from python_calamine import CalamineWorkbook

from fidc_assets.lib.core.documents import format_document, is_valid_document, only_digits
from fidc_assets.sample.generator import generate_sample
from fidc_assets.sample.simulation import simulate
from fidc_assets.sample.truth import (
    AcquisitionTruth,
    ControlTotal,
    DayTruth,
    ExpectedQuarantine,
    QuotaTruth,
    SettlementTruth,
    read_acquisitions_truth,
    read_control_totals,
    read_expected_quarantine,
    read_manifest,
    read_positions_truth,
    read_quotas_truth,
    read_settlements_truth,
    read_truth,
)
from tests.conftest import sha256_tree

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
ALL = ("custodia_alfa", "custodia_beta", "custodia_gama", "custodia_delta", "custodia_epsilon", "custodia_zeta")
POSITIONS = ALL[:4]
EVENTS = ALL[4:]
ARGS = {"seed": 11, "funds": 6, "days": 7, "receivables_per_fund": 250, "bad_row_rate": 0.01}
ASSET_CODES = {"DM", "DS", "CCB", "CH", "CC"}
ASSET_WORDS = {"Duplicata Mercantil", "Duplicata de Serviço", "CCB", "Cheque", "Cartão de Crédito"}

ALFA_HEADER: Sequence[str] = (
    "NOME_FUNDO;DOC_FUNDO;DATA_FUNDO;NOME_ORIGINADOR;DOC_ORIGINADOR;NOME_CEDENTE;DOC_CEDENTE;NOME_SACADO;"
    "DOC_SACADO;SEU_NUMERO;NU_DOCUMENTO;TIPO_RECEBIVEL;VALOR_NOMINAL;VALOR_PRESENTE;VALOR_AQUISICAO;VALOR_PDD;"
    "FAIXA_PDD;DATA_REFERENCIA;DATA_VENCIMENTO_ORIGINAL;DATA_VENCIMENTO_AJUSTADA;DATA_EMISSAO;DATA_AQUISICAO;"
    "PRAZO;PRAZO_ATUAL;SITUACAO_RECEBIVEL;TAXA_CESSAO;TX_RECEBIVEL;COOBRIGACAO"
).split(";")
BETA_HEADER = (
    "nomeFundo;docFundo;dataFundo;nomeGestor;docGestor;nomeOriginador;docOriginador;nomeCedente;docCedente;"
    "nomeSacado;docSacado;seuNumero;numeroDocumento;tipoRecebivel;valorNominal;valorPresente;valorAquisicao;"
    "valorPdd;faixaPdd;dataReferencia;dataVencimentoOriginal;dataVencimentoAjustada;dataEmissao;dataAquisicao;"
    "prazo;prazoAnual;situacaoRecebivel;taxaCessao;taxaRecebivel;coobrigacao"
).split(";")
DELTA_HEADER = (
    "fundo_cnpj,data_posicao,seu_numero,numero_documento,tipo_ativo,cedente_cpf_cnpj,cedente_nome,"
    "sacado_cpf_cnpj,sacado_nome,data_emissao,data_aquisicao,data_vencimento,data_vencimento_ajustada,valor_face,"
    "valor_aquisicao,valor_presente,valor_pdd,faixa_pdd,situacao,coobrigacao,taxa_cessao,moeda"
).split(",")
QUOTA_HEADER = "fundo_cnpj,data,classe,serie,quantidade_cotas,valor_cota,patrimonio_liquido".split(",")

FILE_PATTERNS = {
    "custodia_alfa": re.compile(r"^ESTOQUE_(\d{14})_(\d{8})\.csv$"),
    "custodia_beta": re.compile(r"^carteira_(\d{14})_(\d{4}-\d{2}-\d{2})\.csv$"),
    "custodia_gama": re.compile(r"^ESTOQUE_GAMA_(\d{14})_(\d{8})\.(xlsx|zip)$"),
    "custodia_delta": re.compile(r"^(posicao|cotas)_(\d{14})_(\d{8})\.csv$"),
    "custodia_epsilon": re.compile(r"^CNAB444_(LIQ_)?(\d{14})_(\d{8})\.(REM|RET)$"),
    "custodia_zeta": re.compile(r"^(aquisicoes|liquidacoes)_(\d{14})_(\d{8})\.json$"),
}

# The alfa-only output of the generator before the other custodians existed, for
# generate_sample(seed=5, funds=3, days=6, receivables_per_fund=120, bad_row_rate=0.01):
LEGACY_ARGS = {"seed": 5, "funds": 3, "days": 6, "receivables_per_fund": 120, "bad_row_rate": 0.01}
LEGACY_INBOX_DIGEST = "3ff0597ea06abe97331e6b7664d79c28897338fa8c7d667c039c7f9b783821aa"
LEGACY_QUARANTINE_SHA = "0bb89299345d390c0d314da6a1f8559d8132a44a311035d71346f0a09c3d62a3"
LEGACY_POSITIONS_SHA = "55d94cd9b1fe788607fe37edfec6c312e415d9e051c81bc3b2e87a8584edd646"
LEGACY_MANIFEST_KEYS_SHA = "8c5f19ca407deba49ae6940b7447b6412bd8431c9d38d0cfd9ed23b4da5899cd"
LEGACY_MANIFEST_KEYS = (
    "corrupted_count", "custodian_id", "custodian_name", "days", "file_encoding", "file_sha256", "files", "funds",
    "generator", "manifest_version", "parameters", "row_count", "seed",
)  # fmt: skip


class Rejected(Exception):
    def __init__(self, reason: str, field: str) -> None:
        super().__init__(reason, field)
        self.reason, self.field = reason, field


# ----------------------------------------------------------------------------------------------------------
# Independent field readers


@functools.lru_cache(maxsize=65536)
def doc_ok(text: str, punctuated: bool) -> bool:
    digits = only_digits(text)
    if not is_valid_document(digits):
        return False
    return text == (format_document(digits) if punctuated else digits)


def need(row: dict, name: str) -> str:
    value = row[name]
    if value is None or value == "":
        raise Rejected("missing_required", name)
    return value


def document(row: dict, name: str, punctuated: bool) -> str:
    text = need(row, name)
    if not doc_ok(text, punctuated):
        raise Rejected("invalid_document", name)
    return only_digits(text)


_BR_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DDMMAA = re.compile(r"(\d{2})(\d{2})(\d{2})")


def date_of(row: dict, name: str, pattern: re.Pattern, order: tuple[int, int, int]) -> dt.date:
    m = pattern.fullmatch(need(row, name))
    try:
        if not m:
            raise ValueError
        d, mo, y = (int(m.group(i)) for i in order)
        return dt.date(y + 2000 if y < 100 else y, mo, d)
    except ValueError:
        raise Rejected("unparseable_date", name) from None


def br_date(row, name):
    return date_of(row, name, _BR_DATE, (1, 2, 3))


def iso_date(row, name):
    return date_of(row, name, _ISO_DATE, (3, 2, 1))


def cnab_date(row, name):
    return date_of(row, name, _DDMMAA, (1, 2, 3))


_BR_MONEY = re.compile(r"-?(\d{1,3}(\.\d{3})*|\d+),\d{2}")
_DOT_MONEY = re.compile(r"-?\d+\.\d{2}")


def br_money(row: dict, name: str, thousands_required: bool = False) -> Decimal:
    text = need(row, name)
    pattern = re.compile(r"\d{1,3}(\.\d{3})*,\d{2}") if thousands_required else _BR_MONEY
    if not pattern.fullmatch(text):
        raise Rejected("unparseable_number", name)
    return Decimal(text.replace(".", "").replace(",", "."))


def dot_money(row: dict, name: str, places: int = 2) -> Decimal:
    text = need(row, name)
    if not re.fullmatch(rf"\d+\.\d{{{places}}}", text):
        raise Rejected("unparseable_number", name)
    return Decimal(text)


def code(row: dict, name: str, allowed) -> str:
    value = need(row, name)
    if value not in allowed:
        raise Rejected("unknown_code", name)
    return value


def day_of(text: str) -> dt.date:
    return dt.date.fromisoformat(text) if "-" in text else dt.datetime.strptime(text, "%Y%m%d").date()


# ----------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("formats")
    manifest = generate_sample(out, **ARGS)
    return out, manifest


@pytest.fixture(scope="module")
def expected(sample):
    _, manifest = sample
    by_file: dict[str, list[ExpectedQuarantine]] = defaultdict(list)
    for q in read_expected_quarantine(manifest.truth_dir):
        by_file[q.file_name].append(q)
    return by_file


@pytest.fixture(scope="module")
def parsed(sample):
    """{file name: (custodian, kind, fund, day, [(line, record dict or Rejected)], extras)}"""
    out, manifest = sample
    result = {}
    for custodian, names in manifest.files_by_custodian.items():
        for name in names:
            raw = (manifest.inbox_dir / name).read_bytes()
            result[name] = PARSERS[custodian](name, raw)
    return result


# ----------------------------------------------------------------------------------------------------------
# Parsers: each returns (kind, fund, day, [(line, parsed or Rejected)], extras)


def parse_alfa(name: str, raw: bytes):
    m = FILE_PATTERNS["custodia_alfa"].match(name)
    assert m is not None
    rows = list(csv.reader(raw.decode("latin-1").split("\r\n")[:-1], delimiter=";"))
    assert rows[0] == ALFA_HEADER
    out = []
    for line, values in enumerate(rows[1:], start=2):
        row = dict(zip(ALFA_HEADER, values, strict=True))
        try:
            money = {k: br_money(row, k) for k in ("VALOR_NOMINAL", "VALOR_PRESENTE", "VALOR_AQUISICAO", "VALOR_PDD")}
            document(row, "DOC_CEDENTE", row["DOC_CEDENTE"] != only_digits(row["DOC_CEDENTE"]))
            need(row, "SEU_NUMERO")
            for f in ("DATA_VENCIMENTO_ORIGINAL", "DATA_VENCIMENTO_AJUSTADA", "DATA_EMISSAO", "DATA_AQUISICAO"):
                br_date(row, f)
            out.append((line, money))
        except Rejected as exc:
            out.append((line, exc))
    return "positions", m.group(1), day_of(m.group(2)), out, {}


def parse_beta(name: str, raw: bytes):
    m = FILE_PATTERNS["custodia_beta"].match(name)
    assert m is not None
    fund, day = m.group(1), day_of(m.group(2))
    assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r")
    text = raw.decode("cp1252")
    physical = text.split("\r\n")[:-1]
    rows = list(csv.reader(physical, delimiter=";", quotechar='"'))
    assert rows[0] == BETA_HEADER and physical[0] == ";".join(BETA_HEADER)
    out = []
    for line, (values, src) in enumerate(zip(rows[1:], physical[1:], strict=True), start=2):
        assert len(values) == len(BETA_HEADER)
        row = dict(zip(BETA_HEADER, values, strict=True))
        try:
            assert document(row, "docFundo", True) == fund
            need(row, "seuNumero")
            document(row, "docCedente", True)
            document(row, "docSacado", True)
            code(row, "tipoRecebivel", ASSET_WORDS)
            for f in ("dataVencimentoOriginal", "dataVencimentoAjustada", "dataEmissao", "dataAquisicao"):
                br_date(row, f)
            assert br_date(row, "dataReferencia") == br_date(row, "dataFundo") == day
            rec = {
                "nominal": br_money(row, "valorNominal", True),
                "present": br_money(row, "valorPresente", True),
                "acquisition": br_money(row, "valorAquisicao", True),
                "pdd": br_money(row, "valorPdd", True),
            }
            assert row["coobrigacao"] in ("SIM", "NAO") and row["faixaPdd"] in ("a", "b", "c", "d", "wop")
            prazo = int(row["prazo"])
            annual = (Decimal(prazo) / 365).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
            assert row["prazoAnual"] == str(annual).replace(".", ",")
            assert re.fullmatch(r"\d+,\d{2,4}", row["taxaCessao"])
            out.append((line, rec))
        except Rejected as exc:
            out.append((line, exc))
        cells = src.split(";")  # names never hold a ';': text quoted, numbers not
        for f in BETA_HEADER:
            numeric = f.startswith(("valor", "prazo", "taxa"))
            assert cells[BETA_HEADER.index(f)].startswith('"') != numeric, (f, src)
    return "positions", fund, day, out, {"text": text}


def _open_gama(name: str, raw: bytes) -> bytes:
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
            assert [i.filename for i in infos] == [name[:-4] + ".xlsx"]
            assert infos[0].date_time == (1980, 1, 1, 0, 0, 0)
            assert infos[0].compress_type == zipfile.ZIP_DEFLATED
            return zf.read(infos[0])
    return raw


def parse_gama(name: str, raw: bytes):
    m = FILE_PATTERNS["custodia_gama"].match(name)
    assert m is not None
    fund, day = m.group(1), day_of(m.group(2))
    xlsx = _open_gama(name, raw)
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(xlsx)).get_sheet_by_name("Estoque").to_python()
    title = sheet[0][0]
    assert isinstance(title, str) and title.startswith("Posição de Estoque - FIDC ")
    assert title.endswith(f" - {day:%d/%m/%Y}")
    assert all(v == "" for v in sheet[1])
    assert sheet[2] == ALFA_HEADER
    out = []
    lost_zero = cpfs = 0
    for index, values in enumerate(sheet[3:], start=4):
        row = dict(zip(ALFA_HEADER, values, strict=True))
        try:
            assert document(row, "DOC_FUNDO", True) == fund
            need(row, "SEU_NUMERO")
            document(row, "DOC_CEDENTE", True)
            sacado = row["DOC_SACADO"]
            if isinstance(sacado, float):  # a CPF as a number
                cpfs += 1
                digits = str(int(sacado))
                lost_zero += len(digits) < 11
                assert doc_ok(digits.zfill(11), False)
            else:
                document(row, "DOC_SACADO", True)
            code(row, "TIPO_RECEBIVEL", ASSET_CODES)
            for f in ("DATA_VENCIMENTO_ORIGINAL", "DATA_VENCIMENTO_AJUSTADA", "DATA_EMISSAO", "DATA_AQUISICAO"):
                if not isinstance(row[f], dt.date):
                    raise Rejected("unparseable_date", f)
            assert row["DATA_REFERENCIA"] == row["DATA_FUNDO"] == day
            rec = {}
            for key, f in (("nominal", "VALOR_NOMINAL"), ("present", "VALOR_PRESENTE"),
                           ("acquisition", "VALOR_AQUISICAO"), ("pdd", "VALOR_PDD")):  # fmt: skip
                if not isinstance(row[f], float):
                    raise Rejected("unparseable_number", f)
                value = Decimal(repr(row[f]))
                assert value == value.quantize(CENT)
                rec[key] = value.quantize(CENT)
            assert row["COOBRIGACAO"] in ("S", "N") and isinstance(row["PRAZO"], float)
            out.append((index, rec))
        except Rejected as exc:
            out.append((index, exc))
    return "positions", fund, day, out, {"lost_zero": lost_zero, "cpfs": cpfs, "zipped": name.endswith(".zip")}


def _delta_rows(raw: bytes) -> tuple[str, list[list[str]]]:
    assert b"\r" not in raw and raw.endswith(b"\n")
    text = raw.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=","))
    assert len(rows) == text.count("\n")  # one physical line per record
    return text, rows


def parse_delta(name: str, raw: bytes):
    m = FILE_PATTERNS["custodia_delta"].match(name)
    assert m is not None
    fund, day = m.group(2), day_of(m.group(3))
    text, rows = _delta_rows(raw)
    out = []
    if m.group(1) == "cotas":
        assert rows[0] == QUOTA_HEADER and len(rows) == 4
        for line, values in enumerate(rows[1:], start=2):
            row = dict(zip(QUOTA_HEADER, values, strict=True))
            try:
                assert document(row, "fundo_cnpj", False) == fund
                assert iso_date(row, "data") == day
                classe = code(row, "classe", ("senior", "mezanino", "subordinada"))
                serie = need(row, "serie")
                assert serie == ("unica" if classe == "subordinada" else "1")
                rec = {
                    "class": classe,
                    "series": serie,
                    "count": dot_money(row, "quantidade_cotas", 8),
                    "value": dot_money(row, "valor_cota", 8),
                    "pl": dot_money(row, "patrimonio_liquido"),
                }
                out.append((line, rec))
            except Rejected as exc:
                out.append((line, exc))
        return "quotas", fund, day, out, {}
    assert rows[0] == DELTA_HEADER
    trailer = rows[-1]
    data = rows[1:-1]
    assert trailer[0] == "TRAILER" and int(trailer[1]) == len(data)
    faces = []
    names = []
    for line, values in enumerate(data, start=2):
        row = dict(zip(DELTA_HEADER, values, strict=True))
        faces.append(dot_money(row, "valor_face"))
        names += [row["cedente_nome"], row["sacado_nome"]]
        try:
            assert document(row, "fundo_cnpj", False) == fund and iso_date(row, "data_posicao") == day
            need(row, "seu_numero")
            document(row, "cedente_cpf_cnpj", False)
            document(row, "sacado_cpf_cnpj", False)
            code(row, "tipo_ativo", ASSET_CODES)
            for f in ("data_emissao", "data_aquisicao", "data_vencimento", "data_vencimento_ajustada"):
                iso_date(row, f)
            rec = {
                "nominal": dot_money(row, "valor_face"),
                "present": dot_money(row, "valor_presente"),
                "acquisition": dot_money(row, "valor_aquisicao"),
                "pdd": dot_money(row, "valor_pdd"),
            }
            assert row["coobrigacao"] in ("true", "false") and row["moeda"] == "BRL"
            assert row["situacao"] in ("a_vencer", "vencido")
            out.append((line, rec))
        except Rejected as exc:
            out.append((line, exc))
    total = sum(faces, ZERO)
    assert Decimal(trailer[2]) == total
    extras = {"trailer": ControlTotal(int(trailer[1]), Decimal(trailer[2])), "names": names, "text": text}
    return "positions", fund, day, out, extras


CNAB_KIND = {"77": "liquidacao", "14": "liquidacao_parcial", "75": "recompra", "71": "baixa"}


def parse_epsilon(name: str, raw: bytes):
    m = FILE_PATTERNS["custodia_epsilon"].match(name)
    assert m is not None
    fund, day = m.group(2), day_of(m.group(3))
    remittance = m.group(4) == "REM"
    assert bool(m.group(1)) != remittance
    assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r")
    physical = raw.split(b"\r\n")[:-1]
    assert all(len(b) == 444 for b in physical)
    lines = [b.decode("latin-1") for b in physical]
    assert all(len(x) == 444 for x in lines)

    def f(line: str, a: int, b: int) -> str:
        return line[a - 1 : b]

    header, trailer, details = lines[0], lines[-1], lines[1:-1]
    assert f(header, 1, 1) == "0" and f(header, 2, 2) == "1" and f(header, 3, 9) == "REMESSA"
    assert f(header, 10, 11) == "01" and f(header, 12, 26) == "COBRANCA".ljust(15)
    assert f(header, 95, 100) == f"{day:%d%m%y}" and f(header, 109, 110) == "MX"
    assert f(header, 111, 117).isdigit() and int(f(header, 111, 117)) >= 1
    assert f(trailer, 1, 1) == "9" and f(trailer, 2, 438).strip() == ""
    for i, line in enumerate(lines, start=1):
        assert f(line, 439, 444) == f"{i:06d}"
    out = []
    for line_no, line in enumerate(details, start=2):
        assert f(line, 1, 1) == "1" and f(line, 395, 438).strip() == ""
        row = {
            "receivable_id": f(line, 38, 62).strip(),
            "amount_paid": f(line, 83, 92),
            "settlement_date": f(line, 95, 100),
            "occurrence_code": f(line, 109, 110),
            "due_date": f(line, 121, 126),
            "nominal_value": f(line, 127, 139),
            "issue_date": f(line, 151, 156),
            "acquisition_value": f(line, 193, 205),
            "sacado_type": f(line, 219, 220),
            "sacado_doc": f(line, 221, 234),
            "cedente_doc": f(line, 381, 394),
        }
        try:
            occurrence = code(row, "occurrence_code", ("01",) if remittance else tuple(CNAB_KIND))
            need(row, "receivable_id")
            cnab_date(row, "due_date")
            cnab_date(row, "issue_date")
            money = {}
            for k in ("amount_paid", "nominal_value", "acquisition_value"):
                if not row[k].isdigit():
                    raise Rejected("unparseable_number", k)
                money[k] = Decimal(int(row[k])).scaleb(-2).quantize(CENT)
            sacado = row["sacado_doc"][3:] if row["sacado_type"] == "01" else row["sacado_doc"]
            if not doc_ok(sacado, False):
                raise Rejected("invalid_document", "sacado_doc")
            assert doc_ok(row["cedente_doc"], False)
            assert f(line, 21, 22) in ("01", "02") and f(line, 35, 36).strip() in {
                "AA", "A", "B", "C", "D", "E", "F", "G", "H"}  # fmt: skip
            assert f(line, 148, 149) in ("01", "02", "03", "04", "51")
            if remittance:
                assert money["amount_paid"] == 0 and row["settlement_date"] == "000000"
            else:
                assert cnab_date(row, "settlement_date") == day
            out.append((line_no, {"kind": "acquisition" if remittance else CNAB_KIND[occurrence], **money}))
        except Rejected as exc:
            out.append((line_no, exc))
    assert len(details) == int(f(trailer, 439, 444)) - 2
    kind = "acquisitions" if remittance else "settlements"
    return kind, fund, day, out, {"text": "".join(lines)}


_JSON_BR = re.compile(r"-?(\d{1,3}(\.\d{3})+|\d+),\d{2}")


def json_number(record: dict, name: str, styles: Counter) -> Decimal:
    value = record.get(name)
    if isinstance(value, bool) or value is None:
        raise Rejected("missing_required" if value is None else "unparseable_number", name)
    if isinstance(value, (int, float)):
        styles["number"] += 1
        return Decimal(repr(value)).quantize(CENT)
    if not _JSON_BR.fullmatch(value):
        raise Rejected("unparseable_number", name)
    styles["thousands" if "." in value else "comma"] += 1
    return Decimal(value.replace(".", "").replace(",", "."))


ZETA_KIND = {"LIQUIDACAO": "liquidacao", "LIQUIDACAO_PARCIAL": "liquidacao_parcial", "RECOMPRA": "recompra",
             "BAIXA": "baixa"}  # fmt: skip


def parse_zeta(name: str, raw: bytes):
    m = FILE_PATTERNS["custodia_zeta"].match(name)
    assert m is not None
    fund, day = m.group(2), day_of(m.group(3))
    text = raw.decode("utf-8")
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert doc["dataDaPosicao"] == day.isoformat() and doc["fundo"] == {"cnpj": format_document(fund)}
    acquisitions = m.group(1) == "aquisicoes"
    records = doc["data"]["aquisicoes" if acquisitions else "movimentos"]
    assert records
    out = []
    styles: Counter = Counter()
    for index, r in enumerate(records, start=1):
        try:
            need(r, "seuNumero")
            if acquisitions:
                document(r, "cpfCnpjCedente", True)
                document(r, "cpfCnpjSacado", True)
                code(r, "tipoRecebivel", ASSET_CODES)
                iso_date(r, "dataEmissao")
                iso_date(r, "dataVencimento")
                rec = {
                    "kind": "acquisition",
                    "nominal": json_number(r, "valorVencimento", styles),
                    "acquisition": json_number(r, "valorCompra", styles),
                }
                json_number(r, "taxaAquisicao", styles)
                assert isinstance(r["coobrigacao"], bool)
            else:
                document(r, "identificacaoCedente", False)
                document(r, "identificacaoSacado", False)
                kind = ZETA_KIND[code(r, "tipoMovimento", ZETA_KIND)]
                paid = json_number(r, "valorPago", styles)
                adjustment = json_number(r, "ajuste", styles)
                assert r["stRecebivel"] == ("BAIXADO" if kind == "baixa" else "LIQUIDADO")
                rec = {"kind": kind, "paid": paid, "adjustment": adjustment}
            out.append((index, rec))
        except Rejected as exc:
            out.append((index, exc))
    kind = "acquisitions" if acquisitions else "settlements"
    return kind, fund, day, out, {"styles": styles, "order": [r.get("seuNumero") for r in records]}


PARSERS = {
    "custodia_alfa": parse_alfa,
    "custodia_beta": parse_beta,
    "custodia_gama": parse_gama,
    "custodia_delta": parse_delta,
    "custodia_epsilon": parse_epsilon,
    "custodia_zeta": parse_zeta,
}


# ----------------------------------------------------------------------------------------------------------
# Tests


def test_assignment_and_manifest(sample):
    out, manifest = sample
    doc = read_manifest(manifest.truth_dir)
    assert manifest.custodians == ALL and [c["id"] for c in doc["custodians"]] == list(ALL)
    funds = [f.cnpj for f in manifest.funds]
    assert len(funds) == 6
    for i, cnpj in enumerate(funds):
        fc = manifest.fund_custodians[cnpj]
        assert (fc.positions, fc.events, fc.quotas) == (POSITIONS[i % 4], EVENTS[i % 2], "custodia_delta")
        assert doc["fund_custodians"][cnpj] == {"positions": POSITIONS[i % 4], "events": EVENTS[i % 2],
                                                "quotas": "custodia_delta"}  # fmt: skip
    inbox = sorted(p.name for p in manifest.inbox_dir.iterdir())
    assert list(manifest.files) == doc["files"] == inbox
    by_custodian = [n for names in manifest.files_by_custodian.values() for n in names]
    assert sorted(by_custodian) == inbox and len(set(by_custodian)) == len(by_custodian)
    assert {c: list(v) for c, v in manifest.files_by_custodian.items()} == doc["files_by_custodian"]
    for custodian, names in manifest.files_by_custodian.items():
        assert names and all(FILE_PATTERNS[custodian].match(n) for n in names), custodian
    for name in inbox:
        assert hashlib.sha256((manifest.inbox_dir / name).read_bytes()).hexdigest() == doc["file_sha256"][name]
    assert str(out) not in (manifest.truth_dir / "manifest.json").read_text(encoding="utf-8")


def test_every_fund_day_has_exactly_one_stock_file(sample, parsed):
    _, manifest = sample
    seen = Counter((fund, day) for kind, fund, day, _, _ in parsed.values() if kind == "positions")
    assert seen == Counter({(f.cnpj, d): 1 for f in manifest.funds for d in manifest.days})
    custodian_of = {name: c for c, names in manifest.files_by_custodian.items() for name in names}
    for name, (kind, fund, _, _, _) in parsed.items():
        role = "positions" if kind == "positions" else "quotas" if kind == "quotas" else "events"
        assert getattr(manifest.fund_custodians[fund], role) == custodian_of[name]
    quota_days = Counter((fund, day) for kind, fund, day, _, _ in parsed.values() if kind == "quotas")
    assert quota_days == Counter({(f.cnpj, d): 1 for f in manifest.funds for d in manifest.days})


def test_quarantine_is_exactly_what_the_strict_readers_reject(sample, parsed, expected):
    _, manifest = sample
    found = sorted(
        (ExpectedQuarantine(name, line, rec.reason, rec.field)
         for name, (_, _, _, rows, _) in parsed.items()
         for line, rec in rows
         if isinstance(rec, Rejected)),
        key=lambda q: (q.file_name, q.line_number),
    )  # fmt: skip
    assert found == read_expected_quarantine(manifest.truth_dir)
    custodian_of = {name: c for c, names in manifest.files_by_custodian.items() for name in names}
    per_custodian = Counter(custodian_of[q.file_name] for q in found)
    assert set(per_custodian) == set(ALL)  # bad_row_rate 0.01: every format has some
    assert manifest.corrupted_count == len(found)


def test_positions_truth_to_the_centavo(sample, parsed):
    _, manifest = sample
    custodian_of = {name: c for c, names in manifest.files_by_custodian.items() for name in names}
    got = {}
    for name, (kind, fund, day, rows, _) in parsed.items():
        if kind != "positions":
            continue
        good = [r for _, r in rows if not isinstance(r, Rejected)]
        if custodian_of[name] == "custodia_alfa":
            good = [{"nominal": r["VALOR_NOMINAL"], "present": r["VALOR_PRESENTE"],
                     "acquisition": r["VALOR_AQUISICAO"], "pdd": r["VALOR_PDD"]} for r in good]  # fmt: skip
        got[(custodian_of[name], fund, day)] = DayTruth(
            len(good), *(sum((r[k] for r in good), ZERO) for k in ("nominal", "present", "acquisition", "pdd"))
        )
    truth = read_positions_truth(manifest.truth_dir)
    assert got == truth
    assert read_truth(manifest.truth_dir) == {(f, d): t for (_, f, d), t in truth.items()}
    assert sum(t.row_count for t in truth.values()) == manifest.row_count == manifest.row_counts[
        "receivable_positions"]  # fmt: skip
    for t in truth.values():
        assert all(v.as_tuple().exponent == -2 for v in (t.nominal_value, t.present_value, t.pdd_value))


def event_sums(manifest, parsed) -> tuple[dict, dict, Counter]:
    """(acquisitions, settlements) truth recomputed from the parsed event files, and the ajuste signs."""
    custodian_of = {name: c for c, names in manifest.files_by_custodian.items() for name in names}
    acquisitions: dict = {}
    settlements: dict = {}
    adjustments: Counter = Counter()
    for name, (kind, fund, day, rows, _) in parsed.items():
        cust = custodian_of[name]
        for _, r in rows:
            if isinstance(r, Rejected):
                continue
            if kind == "acquisitions":
                prev = acquisitions.get((cust, fund, day), AcquisitionTruth(0, ZERO, ZERO))
                nominal = r.get("nominal", r.get("nominal_value"))
                price = r.get("acquisition", r.get("acquisition_value"))
                acquisitions[(cust, fund, day)] = AcquisitionTruth(
                    prev.row_count + 1, prev.nominal_value + nominal, prev.acquisition_value + price
                )
            elif kind == "settlements":
                key = (cust, fund, day, r["kind"])
                prev = settlements.get(key, SettlementTruth(0, ZERO))
                paid = r.get("paid", r.get("amount_paid"))
                settlements[key] = SettlementTruth(prev.row_count + 1, prev.amount_paid + paid)
                if r["kind"] == "baixa":
                    assert paid == 0
                if "adjustment" in r:
                    adj = r["adjustment"]
                    adjustments[(r["kind"], "neg" if adj < 0 else "pos" if adj > 0 else "zero")] += 1
    return acquisitions, settlements, adjustments


def test_events_truth_to_the_centavo(sample, parsed):
    _, manifest = sample
    acquisitions, settlements, adjustments = event_sums(manifest, parsed)
    assert acquisitions == read_acquisitions_truth(manifest.truth_dir)
    assert settlements == read_settlements_truth(manifest.truth_dir)
    assert {k[0] for k in acquisitions} == {k[0] for k in settlements} == set(EVENTS)
    assert {k[3] for k in settlements} >= {"liquidacao", "liquidacao_parcial", "recompra"}
    # ajuste: exact, early (negative) and late (positive) settlements all occur; partial payments: 0
    assert {("liquidacao", "zero"), ("liquidacao", "neg"), ("liquidacao", "pos")} <= set(adjustments)
    assert {sign for kind, sign in adjustments if kind == "liquidacao_parcial"} == {"zero"}
    assert {sign for kind, sign in adjustments if kind == "recompra"} <= {"zero", "neg"}
    assert manifest.row_counts["acquisitions"] == sum(a.row_count for a in acquisitions.values())
    assert manifest.row_counts["settlements"] == sum(a.row_count for a in settlements.values())


def test_write_offs_over_a_long_sample(tmp_path):
    """Write-offs (baixa) need more than 180 days past due: a long, small, events-only sample."""
    manifest = generate_sample(
        tmp_path, seed=4, funds=2, days=150, receivables_per_fund=40, bad_row_rate=0.01,
        custodians=("custodia_epsilon", "custodia_zeta"),
    )  # fmt: skip
    parsed = {
        name: PARSERS[c](name, (manifest.inbox_dir / name).read_bytes())
        for c, names in manifest.files_by_custodian.items()
        for name in names
    }
    acquisitions, settlements, adjustments = event_sums(manifest, parsed)
    assert acquisitions == read_acquisitions_truth(manifest.truth_dir)
    assert settlements == read_settlements_truth(manifest.truth_dir)
    assert {(k[0], k[3]) for k in settlements} == {(c, k) for c in EVENTS for k in ZETA_KIND.values()}
    assert {sign for kind, sign in adjustments if kind == "baixa"} == {"neg"}
    found = [
        ExpectedQuarantine(name, line, r.reason, r.field)
        for name, (_, _, _, rows, _) in sorted(parsed.items())
        for line, r in rows
        if isinstance(r, Rejected)
    ]
    assert found == read_expected_quarantine(manifest.truth_dir)
    assert read_truth(manifest.truth_dir) == {} and read_quotas_truth(manifest.truth_dir) == {}


def test_quotas_truth_and_model(sample, parsed):
    _, manifest = sample
    got = {}
    for _, (kind, fund, day, rows, _) in parsed.items():
        if kind == "quotas":
            for _, r in rows:
                if not isinstance(r, Rejected):
                    got[("custodia_delta", fund, day, r["class"], r["series"])] = QuotaTruth(
                        r["count"], r["value"], r["pl"]
                    )
    truth = read_quotas_truth(manifest.truth_dir)
    assert got == truth
    sim = simulate(ARGS["seed"], ARGS["funds"], ARGS["days"], receivables_per_fund=ARGS["receivables_per_fund"])
    counts = defaultdict(set)
    checked = 0
    for fund in sim.funds:
        for day, stock in sim.iter_stock(fund.cnpj):
            rows = {k[3]: t for k, t in truth.items() if k[1] == fund.cnpj and k[2] == day}
            for cls, t in rows.items():
                counts[(fund.cnpj, cls)].add(t.quota_count)
                assert t.quota_value == (t.net_assets / t.quota_count).quantize(Decimal("1e-8"), ROUND_HALF_EVEN)
            if len(rows) < 3:
                continue
            pl = sum((t.net_assets for t in rows.values()), ZERO)
            stock_pv = sum((p.present_value for p in stock), ZERO)
            assert Decimal("1.03") * stock_pv <= pl <= Decimal("1.08") * stock_pv + CENT
            assert rows["senior"].net_assets == (pl * Decimal("0.70")).quantize(CENT, ROUND_HALF_EVEN)
            assert rows["mezanino"].net_assets == (pl * Decimal("0.10")).quantize(CENT, ROUND_HALF_EVEN)
            checked += 1
    assert checked > 30
    assert all(len(v) == 1 for v in counts.values())  # quota counts fixed per fund and class


def test_control_totals(sample, parsed):
    _, manifest = sample
    got = {name: extras["trailer"] for name, (_, _, _, _, extras) in parsed.items() if "trailer" in extras}
    assert got and got == read_control_totals(manifest.truth_dir)


def test_format_specifics(sample, parsed):
    _, manifest = sample
    beta_text = "".join(e["text"] for n, (_, _, _, _, e) in parsed.items() if n.startswith("carteira_"))
    assert any(ch in beta_text for ch in "\u201c\u201d\u2013")  # cp1252-only characters
    with pytest.raises(UnicodeEncodeError):
        beta_text.encode("latin-1")
    assert re.search(r"\d\.\d{3},\d{2}", beta_text)  # thousands separators
    gama = [e for n, (_, _, _, _, e) in parsed.items() if n.startswith("ESTOQUE_GAMA_")]
    assert sum(e["lost_zero"] for e in gama) > 0 and sum(e["cpfs"] for e in gama) > 0
    zipped = sorted(n for n in parsed if n.endswith(".zip"))
    days = manifest.days
    gama_fund = next(c for c, fc in manifest.fund_custodians.items() if fc.positions == "custodia_gama")
    assert zipped == [f"ESTOQUE_GAMA_{gama_fund}_{d:%Y%m%d}.zip" for i, d in enumerate(days) if i % 5 == 4]
    delta = [e for n, (_, _, _, _, e) in parsed.items() if n.startswith("posicao_")]
    assert any("," in name for e in delta for name in e["names"])
    assert any(re.search(r',"[^"]*, [^"]*",', e["text"]) for e in delta)  # quoted names with commas
    cnab = "".join(e["text"] for n, (_, _, _, _, e) in parsed.items() if n.startswith("CNAB444_"))
    assert not cnab.isascii()  # latin-1 accents
    styles = Counter()
    for n, (_, _, _, _, e) in parsed.items():
        if n.endswith(".json"):
            styles.update(e["styles"])
    assert set(styles) == {"number", "comma", "thousands"}


def test_json_records_are_not_sorted(parsed):
    orders = [e["order"] for n, (_, _, _, _, e) in parsed.items() if n.endswith(".json") and len(e["order"]) > 5]
    assert orders and any(o != sorted(o, key=str) for o in orders)


def test_deterministic(sample, tmp_path):
    out, _ = sample
    generate_sample(tmp_path / "again", **ARGS)
    first, second = sha256_tree(out), sha256_tree(tmp_path / "again")
    assert first == second
    assert any(k.endswith(".xlsx") for k in first) and any(k.endswith(".zip") for k in first)


def test_alfa_only_is_byte_identical_to_the_single_custodian_generator(tmp_path):
    manifest = generate_sample(tmp_path, **LEGACY_ARGS, custodians=("custodia_alfa",))
    tree = sha256_tree(tmp_path)
    inbox = {k: v for k, v in tree.items() if k.startswith("inbox/")}
    digest = hashlib.sha256("".join(f"{k}\n{v}\n" for k, v in sorted(inbox.items())).encode()).hexdigest()
    assert digest == LEGACY_INBOX_DIGEST
    assert tree["truth/quarantine_expected.csv"] == LEGACY_QUARANTINE_SHA
    lines = (tmp_path / "truth" / "positions_daily.csv").read_text(encoding="utf-8").split("\n")
    stripped = "\n".join(line.rsplit(",", 1)[0] if line else line for line in lines)
    assert hashlib.sha256(stripped.encode()).hexdigest() == LEGACY_POSITIONS_SHA
    doc = read_manifest(manifest.truth_dir)
    legacy = json.dumps({k: doc[k] for k in LEGACY_MANIFEST_KEYS}, sort_keys=True, ensure_ascii=False)
    assert hashlib.sha256(legacy.encode()).hexdigest() == LEGACY_MANIFEST_KEYS_SHA
    assert manifest.custodian_id == "custodia_alfa" and manifest.custodians == ("custodia_alfa",)
    assert read_acquisitions_truth(manifest.truth_dir) == {} and read_quotas_truth(manifest.truth_dir) == {}


def test_every_record_bad(tmp_path):
    manifest = generate_sample(tmp_path, seed=3, funds=6, days=5, receivables_per_fund=80, bad_row_rate=1.0)
    truth_dir = manifest.truth_dir
    assert all(t.row_count == 0 for t in read_truth(truth_dir).values())
    assert read_acquisitions_truth(truth_dir) == read_settlements_truth(truth_dir) == {}
    assert read_quotas_truth(truth_dir) == {}
    custodian_of = {name: c for c, names in manifest.files_by_custodian.items() for name in names}
    reasons = defaultdict(set)
    for q in read_expected_quarantine(truth_dir):
        reasons[custodian_of[q.file_name]].add(q.reason_code)
    five = {"unparseable_date", "unparseable_number", "missing_required", "invalid_document", "unknown_code"}
    assert reasons == {c: five - {"unknown_code"} if c == "custodia_alfa" else five for c in ALL}
    # every record of every file is listed, with the reason and field a strict reader finds
    found = []
    for custodian, names in manifest.files_by_custodian.items():
        for name in names:
            kind, _, _, rows, _ = PARSERS[custodian](name, (manifest.inbox_dir / name).read_bytes())
            assert rows and all(isinstance(r, Rejected) for _, r in rows), name
            found += [ExpectedQuarantine(name, line, r.reason, r.field) for line, r in rows]
    assert sorted(found, key=lambda q: (q.file_name, q.line_number)) == read_expected_quarantine(truth_dir)


def test_custodian_selection(tmp_path):
    small = {"seed": 2, "funds": 4, "days": 3, "receivables_per_fund": 60, "bad_row_rate": 0.0}
    m = generate_sample(tmp_path / "a", **small, custodians=("custodia_zeta",))
    assert set(m.files_by_custodian) == {"custodia_zeta"}
    assert read_truth(m.truth_dir) == {} and read_quotas_truth(m.truth_dir) == {}
    assert read_acquisitions_truth(m.truth_dir) and m.custodian_id == "custodia_zeta"
    assert all(fc.events == "custodia_zeta" and fc.positions is None for fc in m.fund_custodians.values())
    m = generate_sample(tmp_path / "b", **small, custodians=["custodia_delta", "custodia_beta"])
    assert [fc.positions for fc in m.fund_custodians.values()] == ["custodia_beta", "custodia_delta"] * 2
    assert all(fc.quotas == "custodia_delta" and fc.events is None for fc in m.fund_custodians.values())
    assert m.custodians == ("custodia_beta", "custodia_delta")
    with pytest.raises(ValueError):
        generate_sample(tmp_path / "c", **small, custodians=("custodia_omega",))
    with pytest.raises(ValueError):
        generate_sample(tmp_path / "d", **small, custodians=())
