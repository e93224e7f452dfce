"""Deterministic simulation of FIDC receivable books over ANBIMA business days.

This module knows nothing about files: it produces canonical records (`Fund`, `Party`, `Receivable`,
`StockPosition`, `Movement`) that renderers turn into custodian files (daily stock CSV, XLSX, CNAB 444,
JSON events). Every renderer of one `Simulation` therefore describes the same economic reality.

Determinism
    Only `random.Random` instances seeded from `seed` are used (no global `random`, no clock, no numpy);
    money is `decimal.Decimal` computed in a private context; no float transcendental functions are used
    (their last bit may differ between C libraries). Fund *i* has its own generator, seeded by the *i*-th
    draw of the master generator, and every receivable's fate is drawn when it is acquired, so fund *i*
    and the first *k* days do not change when more funds or more days are simulated.

Book dynamics (per fund)
    * initial book: `receivables_per_fund` receivables still open on the first business day, acquired on
      business days of the previous `WARMUP_CALENDAR_DAYS` calendar days (survivors of a uniform flow, so
      the older ones are mostly late or defaulted: some of the book is already overdue);
    * each business day: new acquisitions (about 2.5 % of the target book, with a feedback term that keeps
      the book near its target size); each receivable's fate is drawn at acquisition: paid on its (adjusted)
      due date, paid a few business days early, paid late, partially paid on the due date (the rest later or
      never), repurchased by the cedente, or defaulted (never paid: written off on the first business day
      more than `WRITE_OFF_DAYS` calendar days after the due date).

Conventions
    * Stock on business day D: every receivable acquired on or before D whose exit (settlement, repurchase,
      write-off) has not happened by the end of D. A receivable leaving on D is not in D's stock.
    * Present value on D: calendar-day convention with monthly compounding,
      ``PV = nominal / (1 + taxa_cessao/100) ** (dc / 30)``, dc = calendar days from D to the adjusted due
      date. On or after the due date PV = nominal. The acquisition value is the same formula on the
      acquisition date, so acquisition value <= PV <= nominal.
    * Days overdue: calendar days after the adjusted due date (0 on the due date itself).
    * PDD = PV x the CMN 2682 provision for the days overdue (1-14 A 0.5 %, 15-30 B 1 %, 31-60 C 3 %,
      61-90 D 10 %, 91-120 E 30 %, 121-150 F 50 %, 151-180 G 70 %, > 180 H 100 %). Not overdue: AA 0 % when
      the cedente is co-obligated (coobrigação), A 0.5 % otherwise. Since write-off happens after 180 days,
      H never appears in a stock.
    * Fund bucket scale (faixa_pdd): `a` not overdue, `b` 1-30, `c` 31-60, `d` 61-120, `wop` > 120 days.
    * Partial payment: on its date the open nominal is reduced by the amount paid, and the acquisition value
      shown is reduced in the same proportion (rounded to centavos).
    * prazo = calendar days from acquisition to the adjusted due date; prazo_atual = calendar days from D to
      the adjusted due date (negative when overdue).
    * All money has exactly two decimal places, rounded ROUND_HALF_EVEN.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from enum import StrEnum
from operator import attrgetter

from fidc_assets.lib.core.calendar import business_days_from, first_business_day_on_or_after, next_business_day
from fidc_assets.lib.core.documents import cnpj_check_digits, cpf_check_digits

# ----------------------------------------------------------------------------------------------------------
# Constants

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: Decimal context for every money computation (independent of the caller's thread context).
MONEY_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
_FACTOR_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)

WARMUP_CALENDAR_DAYS = 90
WRITE_OFF_DAYS = 180
DAILY_ACQUISITION_SHARE = 0.025  # of the target book size
BOOK_FEEDBACK = 0.15  # share of the gap to the target book size closed by each day's acquisitions

STATUS_PERFORMING = "A VENCER"
STATUS_OVERDUE = "VENCIDO"


class AssetType(StrEnum):
    DUPLICATA_MERCANTIL = "DM"
    DUPLICATA_SERVICO = "DS"
    CCB = "CCB"
    CHEQUE = "CH"
    CARTAO = "CC"


ASSET_TYPE_NAMES = {
    AssetType.DUPLICATA_MERCANTIL: "Duplicata Mercantil",
    AssetType.DUPLICATA_SERVICO: "Duplicata de Serviço",
    AssetType.CCB: "Cédula de Crédito Bancário",
    AssetType.CHEQUE: "Cheque",
    AssetType.CARTAO: "Recebível de Cartão",
}


class MovementKind(StrEnum):
    ACQUISITION = "AQUISICAO"
    SETTLEMENT = "LIQUIDACAO"
    PARTIAL_SETTLEMENT = "LIQUIDACAO_PARCIAL"
    REPURCHASE = "RECOMPRA"
    WRITE_OFF = "BAIXA"


#: CMN 2682 scale: (max days overdue, rating, provision rate). Not overdue is handled separately.
CMN2682_SCALE: tuple[tuple[int, str, Decimal], ...] = (
    (14, "A", Decimal("0.005")),
    (30, "B", Decimal("0.01")),
    (60, "C", Decimal("0.03")),
    (90, "D", Decimal("0.10")),
    (120, "E", Decimal("0.30")),
    (150, "F", Decimal("0.50")),
    (180, "G", Decimal("0.70")),
)
CMN2682_H = ("H", Decimal("1.00"))
CMN2682_AA = ("AA", Decimal("0"))
CMN2682_A = ("A", Decimal("0.005"))

#: The fund's own bucket scale: (max days overdue, bucket); beyond the last one: `wop`.
FUND_BUCKETS: tuple[tuple[int, str], ...] = ((0, "a"), (30, "b"), (60, "c"), (120, "d"))
FUND_BUCKET_BEYOND = "wop"


def cmn2682_rating(days_overdue: int, coobrigacao: bool) -> tuple[str, Decimal]:
    """(rating, provision rate) for a receivable `days_overdue` calendar days late (0: not overdue)."""
    if days_overdue <= 0:
        return CMN2682_AA if coobrigacao else CMN2682_A
    for max_days, rating, rate in CMN2682_SCALE:
        if days_overdue <= max_days:
            return rating, rate
    return CMN2682_H


def fund_bucket(days_overdue: int) -> str:
    for max_days, bucket in FUND_BUCKETS:
        if days_overdue <= max_days:
            return bucket
    return FUND_BUCKET_BEYOND


def _overdue_row(days_overdue: int, coobrigacao: bool = False) -> tuple[str, Decimal, str, str]:
    rating, provision = cmn2682_rating(days_overdue, coobrigacao)
    status = STATUS_OVERDUE if days_overdue > 0 else STATUS_PERFORMING
    return rating, provision, fund_bucket(days_overdue), status


#: (rating, provision, fund bucket, status) by days overdue; the last row holds for every later day.
_OVERDUE_TABLE = tuple(_overdue_row(d) for d in range(0, 2 * WRITE_OFF_DAYS))
#: The same for receivables not overdue, by coobrigação.
_PERFORMING = {flag: _overdue_row(0, flag) for flag in (False, True)}
_POSITION_ORDER = attrgetter("receivable.cedente.document", "receivable.seu_numero")


def money(value: Decimal | int | str) -> Decimal:
    """`value` rounded to centavos, ROUND_HALF_EVEN."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN, context=MONEY_CONTEXT)


# ----------------------------------------------------------------------------------------------------------
# Canonical records


@dataclass(frozen=True, slots=True)
class Party:
    """A person (CPF, 11 digits) or a company/fund (CNPJ, 14 digits); `document` is bare digits."""

    document: str
    name: str

    @property
    def is_company(self) -> bool:
        return len(self.document) == 14


@dataclass(frozen=True, slots=True)
class Fund:
    cnpj: str
    name: str
    sector: str
    administrator: Party
    originator: Party
    cedentes: tuple[Party, ...]
    sacados: tuple[Party, ...]


@dataclass(frozen=True, slots=True)
class Receivable:
    """A receivable as acquired by the fund (static attributes). Key: (cedente document, seu_numero)."""

    fund_cnpj: str
    cedente: Party
    sacado: Party
    seu_numero: str
    numero_documento: str
    asset_type: AssetType
    issue_date: dt.date
    acquisition_date: dt.date
    original_due_date: dt.date
    adjusted_due_date: dt.date  # next business day when the original due date is not one
    nominal_value: Decimal  # face value
    acquisition_value: Decimal  # price paid: nominal discounted at cession_rate, acquisition → due
    cession_rate: Decimal  # % per month (2 decimals)
    receivable_rate: Decimal  # the instrument's own rate, % per month (up to 4 decimals)
    coobrigacao: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.cedente.document, self.seu_numero)

    @property
    def term_days(self) -> int:
        """prazo: calendar days from acquisition to the adjusted due date."""
        return (self.adjusted_due_date - self.acquisition_date).days


@dataclass(slots=True)
class StockPosition:
    """One receivable in a fund's stock at the end of `reference_date`.

    Treat as immutable. Not declared frozen only for speed: millions are built per sample, and a frozen
    dataclass's `__init__` is five times slower.
    """

    receivable: Receivable
    reference_date: dt.date
    nominal_value: Decimal  # open nominal (face value less partial payments)
    acquisition_value: Decimal  # acquisition value of the open part
    present_value: Decimal
    pdd_value: Decimal
    days_overdue: int
    days_to_due: int  # prazo_atual: negative when overdue
    rating: str  # CMN 2682, AA..H
    provision_rate: Decimal  # CMN 2682 provision (0.005 = 0.5 %)
    pdd_bucket: str  # the fund's faixa_pdd: a/b/c/d/wop
    status: str  # "A VENCER" / "VENCIDO"


@dataclass(frozen=True, slots=True)
class Movement:
    """An event on a receivable on business day `date` (after the day's stock is struck, it is gone).

    `amount` is what the event does to the book: acquisition: price paid; partial: nominal paid off;
    settlement and write-off: the open nominal closed; repurchase: the PV paid by the cedente.
    `open_nominal` is the open nominal just before the event (acquisition: the face value). `paid` is the cash
    the fund pays (acquisition) or receives, and `adjustment` = paid - open nominal for exits (see
    `settlement_cash`), 0 for acquisitions and partial payments.
    """

    fund_cnpj: str
    date: dt.date
    kind: MovementKind
    receivable: Receivable
    amount: Decimal
    open_nominal: Decimal = ZERO
    paid: Decimal = ZERO
    adjustment: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class _Fate:
    exit_date: dt.date
    exit_kind: MovementKind
    partial_date: dt.date | None = None
    partial_amount: Decimal = ZERO


@dataclass(slots=True)
class _CedenteProfile:
    party: Party
    asset_types: tuple[AssetType, ...]
    asset_weights: tuple[int, ...]
    base_rate_bp: int  # cession rate in hundredths of % per month
    coob_share: float
    risk: float  # multiplies default/late probabilities
    seu_numero_style: int
    next_number: int
    next_doc: int


@dataclass(slots=True)
class _Book:
    fund: Fund
    receivables: list[Receivable] = field(default_factory=list)  # in acquisition order
    fates: list[_Fate] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------------
# Names (all characters encodable in latin-1; never `;`, quotes or newlines)

_GREEK = (
    "Alfa", "Beta", "Gama", "Delta", "Épsilon", "Zeta", "Eta", "Teta", "Iota", "Capa",
    "Lambda", "Ômicron", "Sigma", "Tau", "Ômega", "Rô", "Úpsilon", "Fi", "Qui", "Psi",
)  # fmt: skip
_ROMAN = ("", " II", " III", " IV", " V", " VI", " VII", " VIII", " IX", " X")

# sector: (fund name suffix, cedente activities, asset types with integer weights)
_SECTORS: dict[str, tuple[str, tuple[str, ...], tuple[tuple[AssetType, int], ...]]] = {
    "multissetorial": (
        "Multissetorial",
        ("commerce", "industry", "services", "retail"),
        ((AssetType.DUPLICATA_MERCANTIL, 55), (AssetType.DUPLICATA_SERVICO, 20),
         (AssetType.CHEQUE, 10), (AssetType.CARTAO, 10), (AssetType.CCB, 5)),
    ),
    "agro": (
        "Agronegócio",
        ("agro", "commerce", "industry"),
        ((AssetType.DUPLICATA_MERCANTIL, 75), (AssetType.CCB, 15), (AssetType.CHEQUE, 10)),
    ),
    "varejo": (
        "Varejo",
        ("retail", "commerce"),
        ((AssetType.CARTAO, 45), (AssetType.CHEQUE, 20), (AssetType.DUPLICATA_MERCANTIL, 35)),
    ),
    "servicos": (
        "Serviços e Infraestrutura",
        ("services", "industry"),
        ((AssetType.DUPLICATA_SERVICO, 70), (AssetType.DUPLICATA_MERCANTIL, 25), (AssetType.CCB, 5)),
    ),
    "credito": (
        "Crédito Empresarial",
        ("industry", "commerce", "services", "finance"),
        ((AssetType.CCB, 45), (AssetType.DUPLICATA_MERCANTIL, 40), (AssetType.DUPLICATA_SERVICO, 15)),
    ),
}  # fmt: skip
_SECTOR_KEYS = tuple(_SECTORS)

_ACTIVITIES = {
    "commerce": (
        "Comércio de Alimentos", "Distribuidora de Bebidas", "Atacadista de Materiais de Construção",
        "Comércio de Autopeças", "Distribuidora de Medicamentos", "Comércio de Eletrônicos",
        "Distribuidora de Papéis", "Comércio de Tecidos",
    ),
    "industry": (
        "Indústria Metalúrgica", "Indústria Têxtil", "Laticínios", "Indústria de Embalagens",
        "Confecções", "Indústria de Móveis", "Indústria Química", "Cerâmica", "Plásticos",
    ),
    "services": (
        "Transportes", "Serviços de Engenharia", "Tecnologia e Sistemas", "Serviços Hospitalares",
        "Construtora", "Segurança Patrimonial", "Serviços de Limpeza", "Logística", "Manutenção Industrial",
    ),
    "retail": (
        "Supermercado", "Farmácia", "Calçados", "Ótica", "Posto de Combustíveis", "Restaurante",
        "Clínica Odontológica", "Materiais Elétricos", "Pet Shop",
    ),
    "agro": (
        "Comércio de Produtos Agropecuários", "Cerealista", "Sementes", "Frigorífico", "Usina de Açúcar",
        "Armazéns Gerais", "Fertilizantes",
    ),
    "finance": ("Sociedade de Crédito Direto", "Fomento Mercantil", "Crédito e Cobrança"),
}  # fmt: skip
_PLACES = (
    "São João", "Santa Luzia", "Ipiranga", "Paraná", "Araújo", "Conceição", "Guaíba", "Itajaí", "Jundiaí",
    "Maringá", "Goiânia", "Piauí", "Ribeirão", "Boa Esperança", "Três Rios", "Nova Aliança", "Bandeirantes",
    "Sertãozinho", "Paraíso", "Serra Azul", "Vale do Sol", "São Cristóvão", "Gonçalves", "Magalhães",
    "Brandão", "Simões", "Estrela", "Horizonte", "Pioneira", "União", "Araçatuba", "Ceará", "Maranhão",
    "Tietê", "Itaú", "Cascavel", "Juazeiro", "Criciúma", "Ponta Grossa", "Irmãos Lopes", "Família Sá",
)  # fmt: skip
_COMPANY_SUFFIXES = ("Ltda", "Ltda", "Ltda", "Ltda EPP", "Ltda ME", "S.A.", "& Cia Ltda", "Eireli")
_FIRST_NAMES = (
    "João", "José", "Maria", "Ana", "Antônio", "Francisco", "Luíza", "Márcia", "Sérgio", "Fábio",
    "Cláudia", "Vinícius", "Conceição", "Letícia", "Otávio", "Inês", "Luís", "Mônica", "Thaís", "Rogério",
    "Lúcia", "Débora", "André", "Júlio", "Patrícia", "Caio", "Beatriz", "Rafael", "Gabriela", "Édson",
    "Raí", "Taís", "Jéssica", "Flávio", "Vânia", "Célia", "Aurélio", "Ângela", "Moisés", "Irene",
)  # fmt: skip
_SURNAMES = (
    "da Silva", "dos Santos", "Araújo", "Conceição", "Gonçalves", "Simões", "Magalhães", "Brandão",
    "Ribeiro", "Pereira", "Álvares", "Assunção", "Sá", "Falcão", "Guimarães", "Nóbrega", "Lourenço",
    "Queiroz", "Barbosa", "Câmara", "Romão", "Frazão", "Damião", "Antunes", "Fontes", "Peçanha", "Leão",
)  # fmt: skip
_ORIGINATOR_PATTERNS = (
    "{} Fomento Mercantil Ltda", "{} Capital Consultoria de Crédito Ltda", "{} Securitizadora S.A.",
    "{} Gestão de Recebíveis Ltda",
)  # fmt: skip
_ADMINISTRATORS = (
    "Alfa Serviços Fiduciários DTVM", "Paraná Trust DTVM S.A.", "Horizonte Administração Fiduciária Ltda",
)  # fmt: skip

# Face value buckets in reais per asset type: (low, high, integer weight), uniform within a bucket.
_VALUE_BUCKETS: dict[AssetType, tuple[tuple[int, int, int], ...]] = {
    AssetType.DUPLICATA_MERCANTIL: ((300, 2_000, 25), (2_000, 10_000, 40), (10_000, 50_000, 25),
                                    (50_000, 250_000, 10)),
    AssetType.DUPLICATA_SERVICO: ((300, 2_000, 30), (2_000, 15_000, 45), (15_000, 80_000, 25)),
    AssetType.CHEQUE: ((100, 1_000, 50), (1_000, 5_000, 40), (5_000, 20_000, 10)),
    AssetType.CARTAO: ((50, 500, 50), (500, 3_000, 40), (3_000, 15_000, 10)),
    AssetType.CCB: ((1_000, 5_000, 35), (5_000, 30_000, 45), (30_000, 150_000, 20)),
}  # fmt: skip

# Probabilities of each fate per asset type: (early, late, partial, repurchase, default); rest: on time.
_FATE_PROBS: dict[AssetType, tuple[float, float, float, float, float]] = {
    AssetType.DUPLICATA_MERCANTIL: (0.03, 0.10, 0.03, 0.03, 0.025),
    AssetType.DUPLICATA_SERVICO: (0.02, 0.12, 0.03, 0.02, 0.030),
    AssetType.CHEQUE: (0.00, 0.08, 0.00, 0.04, 0.050),
    AssetType.CARTAO: (0.05, 0.02, 0.01, 0.005, 0.003),
    AssetType.CCB: (0.04, 0.15, 0.05, 0.01, 0.040),
}
# Share of sacados that are companies, per asset type (card receivables: the acquirer is the sacado).
_SACADO_COMPANY_SHARE = {
    AssetType.DUPLICATA_MERCANTIL: 0.9,
    AssetType.DUPLICATA_SERVICO: 0.85,
    AssetType.CHEQUE: 0.3,
    AssetType.CARTAO: 1.0,
    AssetType.CCB: 0.15,
}


def _clean(text: str) -> str:
    """Names never carry the CSV delimiter, quotes or line breaks."""
    for ch in ';"\r\n\t':
        text = text.replace(ch, " ")
    return " ".join(text.split())


# ----------------------------------------------------------------------------------------------------------
# Business days


class _BusinessDays:
    """A growing sorted list of ANBIMA business days with index arithmetic."""

    def __init__(self, first: dt.date, until: dt.date) -> None:
        self._days: list[dt.date] = [first_business_day_on_or_after(first)]
        self._index: dict[dt.date, int] = {self._days[0]: 0}
        self.ensure(until)

    def ensure(self, until: dt.date) -> None:
        days, index = self._days, self._index
        while days[-1] < until:
            day = next_business_day(days[-1])
            index[day] = len(days)
            days.append(day)

    def _ensure_count(self, i: int) -> None:
        while len(self._days) <= i:
            self.ensure(self._days[-1] + dt.timedelta(days=60))

    def on_or_after(self, day: dt.date) -> dt.date:
        self.ensure(day)
        return self._days[bisect.bisect_left(self._days, day)]

    def add(self, day: dt.date, k: int) -> dt.date:
        """The business day `k` business days after business day `day` (k may be negative)."""
        i = self._index[day] + k
        if i < 0:
            raise ValueError(f"{day} - {-k} business days is before the calendar's start")
        self._ensure_count(i)
        return self._days[i]

    def between(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Business days in [start, end]."""
        self.ensure(end)
        lo = bisect.bisect_left(self._days, start)
        hi = bisect.bisect_right(self._days, end)
        return self._days[lo:hi]


# ----------------------------------------------------------------------------------------------------------
# Party generation


def _random_cnpj(rng: random.Random, used: set[str], head_office: bool = False) -> str:
    while True:
        root = f"{rng.randrange(1, 100_000_000):08d}"
        branch = "0001" if head_office or rng.random() < 0.85 else f"{rng.randint(2, 40):04d}"
        base = root + branch
        doc = base + cnpj_check_digits(base)
        if doc not in used and doc != doc[0] * 14:
            used.add(doc)
            return doc


def _random_cpf(rng: random.Random, used: set[str]) -> str:
    while True:
        base = f"{rng.randrange(1, 1_000_000_000):09d}"
        doc = base + cpf_check_digits(base)
        if doc not in used and doc != doc[0] * 11:
            used.add(doc)
            return doc


def _company_names(rng: random.Random, activities: Sequence[str], count: int) -> list[str]:
    """`count` distinct company names drawn from the given activity families."""
    pool = [act for family in activities for act in _ACTIVITIES[family]]
    combos = len(pool) * len(_PLACES) * len(_COMPANY_SUFFIXES)
    picks = rng.sample(range(combos), min(count, combos))
    names = []
    for n in picks:
        act, rest = divmod(n, len(_PLACES) * len(_COMPANY_SUFFIXES))
        place, suffix = divmod(rest, len(_COMPANY_SUFFIXES))
        names.append(_clean(f"{pool[act]} {_PLACES[place]} {_COMPANY_SUFFIXES[suffix]}"))
    while len(names) < count:  # more companies than combinations: number them
        names.append(f"{names[len(names) % combos]} Filial {len(names) // combos + 1}")
    return names


def _person_names(rng: random.Random, count: int) -> list[str]:
    ns = len(_SURNAMES)
    combos = len(_FIRST_NAMES) * ns * ns
    picks = rng.sample(range(combos), min(count, combos))
    names = []
    for n in picks:
        first, rest = divmod(n, ns * ns)
        s1, s2 = divmod(rest, ns)
        if s1 == s2:
            s2 = (s2 + 1) % ns
        names.append(_clean(f"{_FIRST_NAMES[first]} {_SURNAMES[s1]} {_SURNAMES[s2]}"))
    while len(names) < count:
        names.append(f"{names[len(names) % combos]} Filho")
    return names


def _zipf_cum_weights(n: int, offset: int) -> list[int]:
    """Cumulative integer weights ~ 1/(k + offset), k = 1..n (a Zipf law with exponent 1)."""
    cum, total = [], 0
    for k in range(1, n + 1):
        total += 1_000_000 // (k + offset)
        cum.append(total)
    return cum


# ----------------------------------------------------------------------------------------------------------
# The simulation


@dataclass(frozen=True, slots=True)
class SimulationParams:
    seed: int = 42
    funds: int = 3
    days: int = 22
    start: dt.date = dt.date(2024, 7, 1)
    receivables_per_fund: int = 800


class Simulation:
    """The simulated funds over `business_days`; build it with `simulate(...)`."""

    def __init__(self, params: SimulationParams) -> None:
        if params.funds < 0 or params.days < 0 or params.receivables_per_fund < 0:
            raise ValueError(f"funds, days and receivables_per_fund must be >= 0: {params}")
        self.params = params
        self.business_days: tuple[dt.date, ...] = tuple(business_days_from(params.start, params.days))
        first_day = first_business_day_on_or_after(params.start)
        self._first_day = first_day
        last_day = self.business_days[-1] if self.business_days else first_day
        self._last_day = last_day
        self._bdays = _BusinessDays(
            first_day - dt.timedelta(days=WARMUP_CALENDAR_DAYS + 30), last_day + dt.timedelta(days=400)
        )
        self._factor_cache: dict[tuple[Decimal, int], Decimal] = {}
        self._daily_factor: dict[Decimal, Decimal] = {}
        master = random.Random(params.seed)
        fund_seeds = [master.getrandbits(64) for _ in range(params.funds)]
        used_fund_cnpjs: set[str] = set()
        self._books: dict[str, _Book] = {}
        with localcontext(MONEY_CONTEXT):
            for i, fund_seed in enumerate(fund_seeds):
                book = self._simulate_fund(i, random.Random(fund_seed), used_fund_cnpjs)
                self._books[book.fund.cnpj] = book
        self.funds: tuple[Fund, ...] = tuple(b.fund for b in self._books.values())

    # -- public API -------------------------------------------------------------------------------------

    def fund(self, fund_cnpj: str) -> Fund:
        return self._books[fund_cnpj].fund

    def receivables(self, fund_cnpj: str) -> list[Receivable]:
        """Every receivable the fund held at some point of the simulated days (or acquired in warm-up)."""
        return list(self._books[fund_cnpj].receivables)

    def stock(self, fund_cnpj: str, day: dt.date) -> list[StockPosition]:
        """The fund's stock at the end of business day `day`, sorted by (cedente document, seu_numero)."""
        if day not in self.business_days:
            raise ValueError(f"{day} is not a simulated business day")
        book = self._books[fund_cnpj]
        live = [
            (rec, fate)
            for rec, fate in zip(book.receivables, book.fates, strict=True)
            if rec.acquisition_date <= day < fate.exit_date
        ]
        return self._positions(live, day)

    def iter_stock(self, fund_cnpj: str) -> Iterator[tuple[dt.date, list[StockPosition]]]:
        """(day, stock) for every simulated business day, in order (cheaper than calling `stock` per day)."""
        book = self._books[fund_cnpj]
        pairs = list(zip(book.receivables, book.fates, strict=True))  # acquisition order
        live: dict[int, tuple[Receivable, _Fate]] = {}
        nxt = 0
        for day in self.business_days:
            while nxt < len(pairs) and pairs[nxt][0].acquisition_date <= day:
                live[nxt] = pairs[nxt]
                nxt += 1
            for i in [i for i, (_, fate) in live.items() if fate.exit_date <= day]:
                del live[i]
            yield day, self._positions(live.values(), day)

    def movements(self, fund_cnpj: str, day: dt.date | None = None) -> list[Movement]:
        """Acquisitions, settlements, partial settlements, repurchases and write-offs on the simulated days
        (or on `day`), ordered by (date, kind, cedente document, seu_numero)."""
        book = self._books[fund_cnpj]
        days = set(self.business_days) if day is None else {day}
        out: list[Movement] = []
        for rec, fate in zip(book.receivables, book.fates, strict=True):
            if rec.acquisition_date in days:
                out.append(Movement(rec.fund_cnpj, rec.acquisition_date, MovementKind.ACQUISITION, rec,
                                    rec.acquisition_value, rec.nominal_value, rec.acquisition_value))  # fmt: skip
            if fate.partial_date is not None and fate.partial_date in days:
                out.append(Movement(rec.fund_cnpj, fate.partial_date, MovementKind.PARTIAL_SETTLEMENT, rec,
                                    fate.partial_amount, rec.nominal_value, fate.partial_amount))  # fmt: skip
            if fate.exit_date in days:
                open_nominal = MONEY_CONTEXT.subtract(rec.nominal_value, fate.partial_amount)
                if fate.exit_kind is MovementKind.REPURCHASE:
                    due, rate = rec.adjusted_due_date, rec.cession_rate
                    amount = self._present_value(open_nominal, rate, due, fate.exit_date)
                else:
                    amount = open_nominal
                paid, adjustment = self.settlement_cash(rec, fate.exit_kind, fate.exit_date, open_nominal)
                out.append(Movement(rec.fund_cnpj, fate.exit_date, fate.exit_kind, rec, amount, open_nominal,
                                    paid, adjustment))  # fmt: skip
        order = list(MovementKind)
        out.sort(key=lambda m: (m.date, order.index(m.kind), m.receivable.key))
        return out

    def settlement_cash(
        self, rec: Receivable, kind: MovementKind, day: dt.date, open_nominal: Decimal
    ) -> tuple[Decimal, Decimal]:
        """(paid, adjustment = paid - open nominal) when `rec` leaves the book on `day` by `kind`.

        * settlement on the adjusted due date: the open nominal, adjustment 0;
        * settlement before it: the open nominal discounted at the cession rate to `day` (adjustment < 0);
        * settlement after it: the open nominal plus late charges of 2 % + 1 % per month pro rata die
          (calendar days late / 30): adjustment = open x (60 + days late) / 3000, rounded to centavos;
        * repurchase: the open nominal discounted at the cession rate to `day` (= open when overdue);
        * write-off: nothing is paid, adjustment = -open nominal.
        """
        due = rec.adjusted_due_date
        if kind is MovementKind.WRITE_OFF:
            return ZERO, MONEY_CONTEXT.minus(open_nominal)
        if kind is MovementKind.SETTLEMENT and day > due:
            late = (day - due).days
            adjustment = money(MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(open_nominal, 60 + late), 3000))
            return MONEY_CONTEXT.add(open_nominal, adjustment), adjustment
        if kind in (MovementKind.SETTLEMENT, MovementKind.REPURCHASE):
            with localcontext(MONEY_CONTEXT):
                paid = self._present_value(open_nominal, rec.cession_rate, due, day)
            return paid, MONEY_CONTEXT.subtract(paid, open_nominal)
        raise ValueError(f"{kind} is not an exit")

    # -- valuation --------------------------------------------------------------------------------------

    def _discount_factor(self, rate: Decimal, calendar_days: int) -> Decimal:
        """(1 + rate/100) ** (calendar_days / 30), as the integer power of the daily factor computed with
        12 extra digits (integer powers are 30x faster than fractional ones), rounded to 28 digits."""
        key = (rate, calendar_days)
        factor = self._factor_cache.get(key)
        if factor is None:
            ctx = _FACTOR_CONTEXT
            daily = self._daily_factor.get(rate)
            if daily is None:
                base = ctx.add(Decimal(1), ctx.divide(rate, Decimal(100)))
                daily = self._daily_factor[rate] = ctx.power(base, ctx.divide(Decimal(1), Decimal(30)))
            factor = MONEY_CONTEXT.plus(ctx.power(daily, calendar_days))
            self._factor_cache[key] = factor
        return factor

    def _present_value(self, nominal: Decimal, rate: Decimal, due: dt.date, day: dt.date) -> Decimal:
        """`nominal` due on `due`, discounted to `day` at `rate` % per month (calendar days / 30)."""
        dc = (due - day).days
        if dc <= 0:
            return nominal
        return MONEY_CONTEXT.divide(nominal, self._discount_factor(rate, dc)).quantize(
            CENT, rounding=ROUND_HALF_EVEN, context=MONEY_CONTEXT
        )

    def _positions(self, live: Iterable[tuple[Receivable, _Fate]], day: dt.date) -> list[StockPosition]:
        # The hot loop of the generator: lookups are hoisted, ratings come from a table by days overdue.
        out: list[StockPosition] = []
        append = out.append
        cache_get = self._factor_cache.get
        compute = self._discount_factor
        overdue_table = _OVERDUE_TABLE
        beyond = len(overdue_table)
        with localcontext(MONEY_CONTEXT):
            for rec, fate in live:
                nominal = rec.nominal_value
                acquisition = rec.acquisition_value
                if fate.partial_date is not None and fate.partial_date <= day:
                    open_nominal = nominal - fate.partial_amount
                    acquisition = (acquisition * open_nominal / nominal).quantize(CENT, ROUND_HALF_EVEN)
                    nominal = open_nominal
                dc = (rec.adjusted_due_date - day).days
                if dc > 0:
                    rate_key = (rec.cession_rate, dc)
                    factor = cache_get(rate_key) or compute(rec.cession_rate, dc)
                    pv = (nominal / factor).quantize(CENT, ROUND_HALF_EVEN)
                    overdue = 0
                    rating, provision, bucket, status = _PERFORMING[rec.coobrigacao]
                else:
                    pv = nominal
                    overdue = -dc
                    if overdue == 0:
                        rating, provision, bucket, status = _PERFORMING[rec.coobrigacao]
                    else:
                        rating, provision, bucket, status = overdue_table[min(overdue, beyond - 1)]
                pdd = (pv * provision).quantize(CENT, ROUND_HALF_EVEN) if provision else ZERO
                append(
                    StockPosition(
                        rec,
                        day,
                        nominal,
                        acquisition,
                        pv,
                        pdd,
                        overdue,
                        dc,
                        rating,
                        provision,
                        bucket,
                        status,
                    )
                )
        out.sort(key=_POSITION_ORDER)
        return out

    # -- generation -------------------------------------------------------------------------------------

    def _simulate_fund(self, index: int, rng: random.Random, used_fund_cnpjs: set[str]) -> _Book:
        used_docs: set[str] = set()
        cnpj = _random_cnpj(rng, used_fund_cnpjs, head_office=True)
        sector_key = _SECTOR_KEYS[index % len(_SECTOR_KEYS)]
        suffix, activities, sector_assets = _SECTORS[sector_key]
        greek = _GREEK[index % len(_GREEK)]
        roman = _ROMAN[(index // len(_GREEK)) % len(_ROMAN)]
        name = _clean(f"FIDC {greek} {suffix}{roman}")
        originator_place = _PLACES[rng.randrange(len(_PLACES))]
        originator = Party(
            _random_cnpj(rng, used_docs),
            _clean(_ORIGINATOR_PATTERNS[rng.randrange(len(_ORIGINATOR_PATTERNS))].format(originator_place)),
        )
        administrator_name = _ADMINISTRATORS[rng.randrange(len(_ADMINISTRATORS))]
        # an administrator has the same CNPJ in every fund and for every seed
        administrator_cnpj = _random_cnpj(random.Random(f"administrator|{administrator_name}"), set(), True)
        used_docs.add(administrator_cnpj)
        administrator = Party(administrator_cnpj, administrator_name)

        n_target = self.params.receivables_per_fund
        n_cedentes = rng.randint(20, 40)
        cedente_names = _company_names(rng, activities, n_cedentes)
        cedentes = [Party(_random_cnpj(rng, used_docs), nm) for nm in cedente_names]
        n_sacados = max(40, n_target // 3)
        n_pj = (n_sacados * 3) // 5
        sacado_pj = [
            Party(_random_cnpj(rng, used_docs), nm)
            for nm in _company_names(rng, ("commerce", "industry", "services", "retail", "agro"), n_pj)
        ]
        sacado_pf = [Party(_random_cpf(rng, used_docs), nm) for nm in _person_names(rng, n_sacados - n_pj)]

        asset_pool = [a for a, _ in sector_assets]
        asset_pool_weights = [w for _, w in sector_assets]
        profiles = []
        for rank, party in enumerate(cedentes):
            # each cedente deals in one main asset type, sometimes two; the largest cedentes (Zipf ranks)
            # deal in the sector's dominant type, so that the book's mix follows the sector.
            main = rng.choices(asset_pool, weights=asset_pool_weights)[0]
            if rank < 3:
                main = asset_pool[0]
            other = rng.choices(asset_pool, weights=asset_pool_weights)[0]
            types, weights = ((main,), (1,)) if other == main else ((main, other), (4, 1))
            profiles.append(
                _CedenteProfile(
                    party=party,
                    asset_types=types,
                    asset_weights=weights,
                    base_rate_bp=rng.randint(140, 420),
                    coob_share=0.95 if rng.random() < 0.7 else 0.05,
                    risk=0.5 + 1.5 * rng.random(),
                    seu_numero_style=rng.randrange(4),
                    next_number=rng.randint(1, 300),
                    next_doc=rng.randint(1_000, 90_000),
                )
            )
        cedente_cum = _zipf_cum_weights(len(profiles), offset=0)
        pj_cum = _zipf_cum_weights(len(sacado_pj), offset=5)
        pf_cum = _zipf_cum_weights(len(sacado_pf), offset=20)

        fund = Fund(cnpj, name, sector_key, administrator, originator, tuple(cedentes),
                    tuple(sacado_pj + sacado_pf))  # fmt: skip
        book = _Book(fund)

        def draft(acq_day: dt.date) -> tuple[_CedenteProfile, dict, _Fate]:
            prof = profiles[bisect.bisect_right(cedente_cum, rng.random() * cedente_cum[-1])]
            asset = rng.choices(prof.asset_types, weights=prof.asset_weights)[0]
            if rng.random() < _SACADO_COMPANY_SHARE[asset]:
                sacado = sacado_pj[bisect.bisect_right(pj_cum, rng.random() * pj_cum[-1])]
            else:
                sacado = sacado_pf[bisect.bisect_right(pf_cum, rng.random() * pf_cum[-1])]
            d = self._draw_terms(rng, prof, asset, acq_day)
            d["sacado"] = sacado
            d["asset"] = asset
            fate = self._draw_fate(rng, prof, asset, d)
            return prof, d, fate

        # Initial book: survivors, on the first business day, of a uniform acquisition flow over the warm-up.
        warmup = self._bdays.between(self._first_day - dt.timedelta(days=WARMUP_CALENDAR_DAYS),
                                     self._first_day - dt.timedelta(days=1))  # fmt: skip
        initial: list[tuple[dt.date, int, _CedenteProfile, dict, _Fate]] = []
        attempts = 0
        while warmup and len(initial) < n_target and attempts < 50 * n_target:
            attempts += 1
            acq_day = warmup[rng.randrange(len(warmup))]
            prof, d, fate = draft(acq_day)
            if fate.exit_date >= self._first_day:
                initial.append((acq_day, attempts, prof, d, fate))
        initial.sort(key=lambda t: (t[0], t[1]))  # number documents in acquisition order
        exits: dict[dt.date, int] = {}
        for _, _, prof, d, fate in initial:
            self._append(book, prof, d, fate)
            exits[fate.exit_date] = exits.get(fate.exit_date, 0) + 1

        live = len(initial)
        for day in self.business_days:
            gap = n_target - live
            base = n_target * DAILY_ACQUISITION_SHARE * (0.7 + 0.6 * rng.random())
            count = round(base + BOOK_FEEDBACK * gap)
            for _ in range(max(0, count)):
                prof, d, fate = draft(day)
                self._append(book, prof, d, fate)
                exits[fate.exit_date] = exits.get(fate.exit_date, 0) + 1
                live += 1
            live -= exits.pop(day, 0)
        return book

    def _draw_terms(self, rng: random.Random, prof: _CedenteProfile, asset: AssetType, acq: dt.date) -> dict:
        if asset is AssetType.DUPLICATA_MERCANTIL:
            term = rng.choice((28, 30, 30, 35, 42, 45, 56, 60, 60, 63, 75, 90, 90, 120))
            issue = acq - dt.timedelta(days=rng.randint(0, 10))
        elif asset is AssetType.DUPLICATA_SERVICO:
            term = rng.choice((15, 20, 28, 30, 30, 45, 60, 90))
            issue = acq - dt.timedelta(days=rng.randint(0, 10))
        elif asset is AssetType.CHEQUE:
            term = rng.randint(5, 120)
            issue = acq - dt.timedelta(days=rng.randint(0, 5))
        elif asset is AssetType.CARTAO:
            term = 30 * rng.choice((1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 10, 12)) + rng.randint(0, 2)
            issue = acq - dt.timedelta(days=rng.randint(0, 20))
        else:  # CCB
            term = 30 * rng.randint(2, 12)
            issue = acq - dt.timedelta(days=rng.randint(0, 3))
        due = issue + dt.timedelta(days=term)
        if (due - acq).days < 5:
            due = acq + dt.timedelta(days=term)
        adjusted = self._bdays.on_or_after(due)

        buckets = _VALUE_BUCKETS[asset]
        lo, hi, _ = rng.choices(buckets, weights=[w for _, _, w in buckets])[0]
        nominal = Decimal(rng.randint(lo * 100, hi * 100)).scaleb(-2)
        if asset is AssetType.DUPLICATA_MERCANTIL and rng.random() < 0.1:
            nominal = Decimal(rng.randint(lo // 100 + 1, hi // 100) * 100).quantize(CENT)  # round invoice
        rate_bp = min(450, max(120, prof.base_rate_bp + rng.randint(-30, 30)))
        rate = Decimal(rate_bp).scaleb(-2)
        if asset is AssetType.CCB:  # the borrower's contractual rate, above the cession rate
            receivable_rate = Decimal(rate_bp * 100 + rng.randint(2_000, 25_000)).scaleb(-4)
        else:
            receivable_rate = rate.quantize(Decimal("0.0001"))
        coob = rng.random() < prof.coob_share
        return {
            "issue": issue, "acq": acq, "due": due, "adjusted": adjusted, "nominal": nominal,
            "rate": rate, "receivable_rate": receivable_rate, "coob": coob,
        }  # fmt: skip

    def _draw_fate(self, rng: random.Random, prof: _CedenteProfile, asset: AssetType, d: dict) -> _Fate:
        bdays = self._bdays
        acq: dt.date = d["acq"]
        due: dt.date = d["adjusted"]
        earliest = bdays.add(acq, 1)
        p_early, p_late, p_partial, p_repurchase, p_default = _FATE_PROBS[asset]
        p_late *= prof.risk
        p_default *= prof.risk
        p_repurchase *= 2.0 if d["coob"] else 0.3
        u = rng.random()
        write_off = bdays.on_or_after(due + dt.timedelta(days=WRITE_OFF_DAYS + 1))
        nominal: Decimal = d["nominal"]

        def late_day(max_bd: int) -> dt.date:
            x = rng.random()
            return bdays.add(due, 1 + int(x * x * x * max_bd))

        if (u := u - p_default) < 0:
            return _Fate(write_off, MovementKind.WRITE_OFF)
        if (u := u - p_repurchase) < 0:
            if rng.random() < 0.6:  # delinquency triggers the cedente's obligation
                when = bdays.add(due, rng.randint(1, 30))
            else:
                span = bdays.between(earliest, due)
                when = span[rng.randrange(len(span))] if span else earliest
            return _Fate(max(when, earliest), MovementKind.REPURCHASE)
        if (u := u - p_partial) < 0:
            paid = money(nominal * Decimal(rng.randint(20, 80)) / Decimal(100))
            if rng.random() < 0.6:
                return _Fate(late_day(60), MovementKind.SETTLEMENT, due, paid)
            return _Fate(write_off, MovementKind.WRITE_OFF, due, paid)
        if (u := u - p_late) < 0:
            return _Fate(late_day(90), MovementKind.SETTLEMENT)
        if u - p_early < 0:
            return _Fate(max(bdays.add(due, -rng.randint(1, 5)), earliest), MovementKind.SETTLEMENT)
        return _Fate(max(due, earliest), MovementKind.SETTLEMENT)

    def _append(self, book: _Book, prof: _CedenteProfile, d: dict, fate: _Fate) -> None:
        number = prof.next_number
        prof.next_number += 1
        style = prof.seu_numero_style
        if style == 0:
            seu_numero = f"{number:06d}"
        elif style == 1:
            seu_numero = str(number)
        elif style == 2:
            seu_numero = f"{number:05d}-{number % 7}"
        else:
            seu_numero = f"T{number:08d}"
        asset: AssetType = d["asset"]
        doc = prof.next_doc
        prof.next_doc += 1
        if asset in (AssetType.DUPLICATA_MERCANTIL, AssetType.DUPLICATA_SERVICO):
            numero_documento = f"{doc:06d}-{number % 3 + 1}"
        elif asset is AssetType.CHEQUE:
            numero_documento = f"CH{doc:07d}"
        elif asset is AssetType.CARTAO:
            numero_documento = f"{doc * 7919 % 10**12:012d}"
        else:
            numero_documento = f"CCB{d['acq'].year}{doc:06d}"
        acq_value = self._present_value(d["nominal"], d["rate"], d["adjusted"], d["acq"])
        book.receivables.append(
            Receivable(
                fund_cnpj=book.fund.cnpj,
                cedente=prof.party,
                sacado=d["sacado"],
                seu_numero=seu_numero,
                numero_documento=numero_documento,
                asset_type=asset,
                issue_date=d["issue"],
                acquisition_date=d["acq"],
                original_due_date=d["due"],
                adjusted_due_date=d["adjusted"],
                nominal_value=d["nominal"],
                acquisition_value=acq_value,
                cession_rate=d["rate"],
                receivable_rate=d["receivable_rate"],
                coobrigacao=d["coob"],
            )
        )
        book.fates.append(fate)


def simulate(
    seed: int = 42,
    funds: int = 3,
    days: int = 22,
    start: dt.date = dt.date(2024, 7, 1),
    receivables_per_fund: int = 800,
) -> Simulation:
    """Simulate `funds` funds over `days` ANBIMA business days from `start` (or the next business day)."""
    return Simulation(SimulationParams(seed, funds, days, start, receivables_per_fund))
