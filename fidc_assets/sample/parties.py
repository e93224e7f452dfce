"""The parties of a simulated fund: its name, administrator, originator, cedentes and sacados, with valid
CPF/CNPJ documents and names that every custodian file can carry (latin-1, never `;`, quotes or newlines);
and the Zipf weights that make a few cedentes and sacados dominate a book.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from fidc_assets.lib.core.documents import cnpj_check_digits, cpf_check_digits
from fidc_assets.sample.records import AssetType, Fund, Party

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


def _clean(text: str) -> str:
    """Names never carry the CSV delimiter, quotes or line breaks."""
    for ch in ';"\r\n\t':
        text = text.replace(ch, " ")
    return " ".join(text.split())


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


def zipf_cum_weights(n: int, offset: int) -> list[int]:
    """Cumulative integer weights ~ 1/(k + offset), k = 1..n (a Zipf law with exponent 1)."""
    cum, total = [], 0
    for k in range(1, n + 1):
        total += 1_000_000 // (k + offset)
        cum.append(total)
    return cum


@dataclass(frozen=True)
class FundParties:
    """A fund with its parties, and what the book's draws need beyond them."""

    fund: Fund
    sector_assets: tuple[tuple[AssetType, int], ...]  # the sector's asset types with integer weights
    sacado_pj: list[Party]
    sacado_pf: list[Party]


def draw_parties(index: int, rng: random.Random, used_fund_cnpjs: set[str], n_target: int) -> FundParties:
    """Fund `index`'s name and parties, drawn from its generator (`used_fund_cnpjs` keeps fund CNPJs unique)."""
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
    fund = Fund(cnpj, name, sector_key, administrator, originator, tuple(cedentes),
                tuple(sacado_pj + sacado_pf))  # fmt: skip
    return FundParties(fund, sector_assets, sacado_pj, sacado_pf)
