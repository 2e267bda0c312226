"""The demo region that `make demo` creates: fictional organisations on the real
Auvergne-Rhône-Alpes map, one account per role, and how to log in with them.

The legal entities and establishments are written as a FINESS extract (`structureej` and
`structureet` lines) and loaded through `import_finess`, so the demo exercises the real import
path, legal statuses included (from the legal entities' FINESS status codes). What an extract
does not carry (GHT membership, support establishments, activity figures) is then set through
the ORM, in one transaction. Everything comes from a fixed random seed: two runs give the same
region, and a second `seed_demo` changes nothing.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import random
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from rempart.core.roles import ROLES, OrgKind, Role

from .finess import luhn_is_valid, luhn_key
from .models import Departement, Invitation, Membership, Organisation, Region, Sector, User

SEED = 20240318  # the D1 arrêté's date: any fixed number would do
DEMO_DOMAIN = "demo.rempart.fr"
DEMO_PASSWORD = "Rempart-Demo-2025"  # noqa: S105 - the demo's published password
DEMO_URL = "http://127.0.0.1:8000/"
FINESS_EXTRACT_DATE = "2025-01-15"

REGION_CODE = "84"
REGION_NAME = "Auvergne-Rhône-Alpes"

# Real départements of the region, with a few real communes each
# (INSEE commune code without the département, postal code, name) and a weight that
# roughly follows the number of establishments.
DEPARTEMENTS: dict[str, tuple[str, int, list[tuple[str, str, str]]]] = {
    "01": (
        "Ain",
        7,
        [
            ("053", "01000", "Bourg-en-Bresse"),
            ("283", "01100", "Oyonnax"),
            ("004", "01500", "Ambérieu-en-Bugey"),
            ("034", "01300", "Belley"),
            ("427", "01600", "Trévoux"),
            ("173", "01170", "Gex"),
        ],
    ),
    "03": (
        "Allier",
        5,
        [
            ("190", "03000", "Moulins"),
            ("185", "03100", "Montluçon"),
            ("310", "03200", "Vichy"),
            ("321", "03400", "Yzeure"),
            ("254", "03500", "Saint-Pourçain-sur-Sioule"),
        ],
    ),
    "07": (
        "Ardèche",
        5,
        [
            ("186", "07000", "Privas"),
            ("010", "07100", "Annonay"),
            ("019", "07200", "Aubenas"),
            ("324", "07300", "Tournon-sur-Rhône"),
            ("319", "07400", "Le Teil"),
        ],
    ),
    "15": (
        "Cantal",
        3,
        [
            ("014", "15000", "Aurillac"),
            ("187", "15100", "Saint-Flour"),
            ("120", "15200", "Mauriac"),
        ],
    ),
    "26": (
        "Drôme",
        7,
        [
            ("362", "26000", "Valence"),
            ("198", "26200", "Montélimar"),
            ("281", "26100", "Romans-sur-Isère"),
            ("113", "26150", "Die"),
            ("108", "26400", "Crest"),
            ("220", "26110", "Nyons"),
        ],
    ),
    "38": (
        "Isère",
        15,
        [
            ("185", "38000", "Grenoble"),
            ("544", "38200", "Vienne"),
            ("563", "38500", "Voiron"),
            ("053", "38300", "Bourgoin-Jallieu"),
            ("151", "38130", "Échirolles"),
            ("382", "38120", "Saint-Égrève"),
            ("269", "38350", "La Mure"),
        ],
    ),
    "42": (
        "Loire",
        10,
        [
            ("218", "42000", "Saint-Étienne"),
            ("187", "42300", "Roanne"),
            ("147", "42600", "Montbrison"),
            ("095", "42700", "Firminy"),
            ("207", "42400", "Saint-Chamond"),
            ("094", "42110", "Feurs"),
        ],
    ),
    "43": (
        "Haute-Loire",
        3,
        [
            ("157", "43000", "Le Puy-en-Velay"),
            ("268", "43200", "Yssingeaux"),
            ("040", "43100", "Brioude"),
            ("137", "43120", "Monistrol-sur-Loire"),
        ],
    ),
    "63": (
        "Puy-de-Dôme",
        9,
        [
            ("113", "63000", "Clermont-Ferrand"),
            ("300", "63200", "Riom"),
            ("430", "63300", "Thiers"),
            ("178", "63500", "Issoire"),
            ("003", "63600", "Ambert"),
            ("124", "63800", "Cournon-d'Auvergne"),
        ],
    ),
    "69": (
        "Rhône",
        20,
        [
            ("123", "69003", "Lyon"),
            ("123", "69008", "Lyon"),
            ("266", "69100", "Villeurbanne"),
            ("259", "69200", "Vénissieux"),
            ("264", "69400", "Villefranche-sur-Saône"),
            ("091", "69700", "Givors"),
            ("243", "69170", "Tarare"),
            ("029", "69500", "Bron"),
            ("081", "69130", "Écully"),
        ],
    ),
    "73": (
        "Savoie",
        6,
        [
            ("065", "73000", "Chambéry"),
            ("011", "73200", "Albertville"),
            ("008", "73100", "Aix-les-Bains"),
            ("248", "73300", "Saint-Jean-de-Maurienne"),
            ("054", "73700", "Bourg-Saint-Maurice"),
            ("181", "73600", "Moûtiers"),
        ],
    ),
    "74": (
        "Haute-Savoie",
        9,
        [
            ("010", "74000", "Annecy"),
            ("281", "74200", "Thonon-les-Bains"),
            ("012", "74100", "Annemasse"),
            ("256", "74700", "Sallanches"),
            ("081", "74300", "Cluses"),
            ("225", "74150", "Rumilly"),
            ("243", "74160", "Saint-Julien-en-Genevois"),
        ],
    ),
}

# 13 GHT: one per département, two in the Rhône (split by commune).
GHTS: list[tuple[str, str, str]] = [  # key, name, département
    ("bresse-bugey", "GHT de démonstration Bresse–Bugey", "01"),
    ("bourbonnais", "GHT de démonstration Bourbonnais", "03"),
    ("vivarais", "GHT de démonstration Vivarais", "07"),
    ("haute-auvergne", "GHT de démonstration Haute-Auvergne", "15"),
    ("drome-provence", "GHT de démonstration Drôme–Provence", "26"),
    ("alpes-dauphine", "GHT de démonstration Alpes–Dauphiné", "38"),
    ("forez-roannais", "GHT de démonstration Forez–Roannais", "42"),
    ("velay", "GHT de démonstration Velay", "43"),
    ("volcans", "GHT de démonstration Volcans d'Auvergne", "63"),
    ("rhone-centre", "GHT de démonstration Rhône–Centre", "69"),
    ("beaujolais-dombes", "GHT de démonstration Beaujolais–Dombes", "69"),
    ("savoie", "GHT de démonstration Savoie", "73"),
    ("leman-mont-blanc", "GHT de démonstration Léman–Mont-Blanc", "74"),
]
_BEAUJOLAIS_COMMUNES = {"Villefranche-sur-Saône", "Tarare"}

ARS_NAME = "ARS de démonstration Auvergne-Rhône-Alpes"
CRRC_NAME = "GRADeS de démonstration — CRRC"
NATIONAL_NAME = "Observatoire national de démonstration (ANS)"
PROVIDER_NAME = "Cyber-Réponse Alpes (prestataire de démonstration)"

PUBLIC = "public"
NON_PROFIT = "prive_non_lucratif"
FOR_PROFIT = "prive_lucratif"


@dataclass(frozen=True)
class CategorySpec:
    """How establishments of one FINESS category look: name, size and money."""

    code: str
    label: str
    sector: str  # "sanitaire" | "medico_social"
    prefixes: tuple[str, ...]
    capacity: str  # "beds" | "places"
    size: tuple[int, int]
    staff_per_unit: tuple[float, float]
    budget_per_unit: tuple[int, int]  # euros per bed or place per year
    ape: str


CATEGORIES: dict[str, CategorySpec] = {
    spec.code: spec
    for spec in [
        CategorySpec(
            "101",
            "Centre Hospitalier Régional (C.H.R.)",
            "sanitaire",
            ("Hôpital",),
            "beds",
            (450, 1100),
            (3.2, 4.0),
            (330_000, 420_000),
            "8610Z",
        ),
        CategorySpec(
            "355",
            "Centre Hospitalier (C.H.)",
            "sanitaire",
            ("Centre hospitalier",),
            "beds",
            (120, 650),
            (2.2, 3.0),
            (180_000, 260_000),
            "8610Z",
        ),
        CategorySpec(
            "106",
            "Centre hospitalier, ex Hôpital local",
            "sanitaire",
            ("Centre hospitalier de proximité", "Hôpital de proximité"),
            "beds",
            (30, 140),
            (1.0, 1.5),
            (80_000, 120_000),
            "8610Z",
        ),
        CategorySpec(
            "292",
            "Centre Hospitalier Spécialisé lutte Maladies Mentales",
            "sanitaire",
            ("Centre hospitalier spécialisé", "Centre psychothérapique"),
            "beds",
            (180, 560),
            (2.0, 2.8),
            (190_000, 250_000),
            "8610Z",
        ),
        CategorySpec(
            "131",
            "Centre de Lutte Contre Cancer",
            "sanitaire",
            ("Centre de lutte contre le cancer",),
            "beds",
            (150, 320),
            (4.5, 6.0),
            (600_000, 800_000),
            "8610Z",
        ),
        CategorySpec(
            "365",
            "Etablissement de Soins Pluridisciplinaire",
            "sanitaire",
            ("Clinique", "Hôpital privé", "Polyclinique"),
            "beds",
            (70, 300),
            (1.1, 1.6),
            (120_000, 170_000),
            "8610Z",
        ),
        CategorySpec(
            "128",
            "Etablissement de Soins Chirurgicaux",
            "sanitaire",
            ("Clinique chirurgicale", "Clinique"),
            "beds",
            (40, 160),
            (1.0, 1.4),
            (130_000, 180_000),
            "8610Z",
        ),
        CategorySpec(
            "109",
            "Etablissement de santé privé autorisé en SSR",
            "sanitaire",
            (
                "Centre de soins de suite et de réadaptation",
                "Centre de rééducation",
                "Maison de convalescence",
            ),
            "beds",
            (40, 160),
            (0.8, 1.1),
            (75_000, 100_000),
            "8610Z",
        ),
        CategorySpec(
            "161",
            "Maison de Santé pour Maladies Mentales",
            "sanitaire",
            ("Clinique psychiatrique",),
            "beds",
            (40, 130),
            (0.7, 1.0),
            (70_000, 95_000),
            "8610Z",
        ),
        CategorySpec(
            "127",
            "Hospitalisation à Domicile",
            "sanitaire",
            ("Hospitalisation à domicile",),
            "places",
            (30, 120),
            (0.9, 1.3),
            (60_000, 80_000),
            "8610Z",
        ),
        CategorySpec(
            "146",
            "Structure d'Alternative à la dialyse en centre",
            "sanitaire",
            ("Unité d'autodialyse", "Centre de dialyse"),
            "places",
            (8, 30),
            (0.6, 0.9),
            (90_000, 120_000),
            "8610Z",
        ),
        CategorySpec(
            "362",
            "Etablissement de Soins Longue Durée",
            "sanitaire",
            ("Unité de soins de longue durée",),
            "beds",
            (30, 90),
            (0.9, 1.2),
            (70_000, 90_000),
            "8610Z",
        ),
        CategorySpec(
            "500",
            "Etablissement d'hébergement pour personnes âgées dépendantes",
            "medico_social",
            ("EHPAD", "Résidence"),
            "places",
            (45, 130),
            (0.55, 0.75),
            (38_000, 50_000),
            "8710A",
        ),
        CategorySpec(
            "202",
            "Résidences autonomie",
            "medico_social",
            ("Résidence autonomie",),
            "places",
            (30, 80),
            (0.1, 0.2),
            (9_000, 14_000),
            "8730A",
        ),
        CategorySpec(
            "183",
            "Institut Médico-Educatif (I.M.E.)",
            "medico_social",
            ("IME", "Institut médico-éducatif"),
            "places",
            (30, 90),
            (0.8, 1.1),
            (55_000, 70_000),
            "8891B",
        ),
        CategorySpec(
            "182",
            "Service d'Éducation Spéciale et de Soins à Domicile",
            "medico_social",
            ("SESSAD",),
            "places",
            (20, 60),
            (0.4, 0.6),
            (18_000, 25_000),
            "8891B",
        ),
        CategorySpec(
            "246",
            "Etablissement et Service d'Aide par le Travail (E.S.A.T.)",
            "medico_social",
            ("ESAT",),
            "places",
            (40, 130),
            (0.2, 0.3),
            (13_000, 17_000),
            "8810C",
        ),
        CategorySpec(
            "255",
            "Maison d'Accueil Spécialisée (M.A.S.)",
            "medico_social",
            ("Maison d'accueil spécialisée", "MAS"),
            "places",
            (30, 60),
            (1.3, 1.7),
            (85_000, 105_000),
            "8710B",
        ),
        CategorySpec(
            "448",
            "Etab.Acc.Médicalisé en tout ou partie personnes handicapées",
            "medico_social",
            ("Établissement d'accueil médicalisé", "Foyer d'accueil médicalisé"),
            "places",
            (25, 55),
            (0.9, 1.2),
            (60_000, 75_000),
            "8710B",
        ),
        CategorySpec(
            "354",
            "Service de Soins Infirmiers A Domicile (S.S.I.A.D)",
            "medico_social",
            ("SSIAD", "Service de soins infirmiers à domicile"),
            "places",
            (30, 120),
            (0.3, 0.45),
            (12_000, 15_000),
            "8810A",
        ),
    ]
}

# How many establishments of each category and status the region gets.
# (category, legal status, count); CHU sites are generated separately.
ES_PLAN: list[tuple[str, str, int]] = [
    ("355", PUBLIC, 50),
    ("106", PUBLIC, 14),
    ("292", PUBLIC, 11),
    ("362", PUBLIC, 4),
    ("131", NON_PROFIT, 2),
    ("365", NON_PROFIT, 7),
    ("109", NON_PROFIT, 18),
    ("127", NON_PROFIT, 6),
    ("146", NON_PROFIT, 7),
    ("161", NON_PROFIT, 4),
    ("365", FOR_PROFIT, 38),
    ("128", FOR_PROFIT, 24),
    ("109", FOR_PROFIT, 20),
    ("161", FOR_PROFIT, 10),
    ("146", FOR_PROFIT, 6),
]
ESSMS_PLAN: list[tuple[str, str, int]] = [
    ("500", PUBLIC, 22),
    ("500", NON_PROFIT, 16),
    ("500", FOR_PROFIT, 11),
    ("202", PUBLIC, 4),
    ("183", NON_PROFIT, 10),
    ("182", NON_PROFIT, 6),
    ("246", NON_PROFIT, 9),
    ("255", NON_PROFIT, 5),
    ("448", NON_PROFIT, 5),
    ("354", PUBLIC, 4),
    ("354", NON_PROFIT, 8),
]
# CHU: legal entity name, département, city of the sites, number of sites.
CHU_PLAN: list[tuple[str, str, str, int]] = [
    ("Hospices universitaires de démonstration Rhône-Confluence", "69", "Lyon", 4),
    ("CHU de démonstration Grésivaudan", "38", "Grenoble", 2),
    ("CHU de démonstration des Arvernes", "63", "Clermont-Ferrand", 2),
    ("CHU de démonstration du Furan", "42", "Saint-Étienne", 1),
]
# Associations running several medico-social structures each.
ASSOCIATIONS = [
    "Association départementale Les Amis du Val (démo)",
    "Association Horizons Solidaires (démo)",
    "Fondation Les Trois Ruisseaux (démo)",
    "Association Entraide Alpes-Forez (démo)",
    "Association Les Chemins du Lien (démo)",
    "Mutualité de démonstration Auvergne",
]

PLACE_NAMES = [
    "des Cèdres",
    "du Parc",
    "des Tilleuls",
    "du Val Fleuri",
    "des Sources",
    "du Belvédère",
    "des Érables",
    "du Grand Pré",
    "des Bruyères",
    "des Coteaux",
    "de la Colline",
    "du Lac",
    "des Châtaigniers",
    "des Glycines",
    "des Hirondelles",
    "du Mont Joli",
    "des Genêts",
    "des Mélèzes",
    "de la Roseraie",
    "des Vignes",
    "du Verger",
    "des Marronniers",
    "des Lilas",
    "des Trois Sapins",
    "de l'Étang",
    "du Plateau",
    "des Rives",
    "des Sorbiers",
    "des Peupliers",
    "des Iris",
    "du Moulin",
    "des Cerisiers",
    "de la Source Vive",
    "des Gentianes",
    "des Myrtilles",
    "du Soleil Levant",
    "de la Forêt",
    "des Trois Vallées",
    "des Quatre Vents",
    "du Bel Air",
    "des Alouettes",
    "des Noisetiers",
    "de la Prairie",
    "des Acacias",
    "du Clos Fleuri",
    "des Ormeaux",
    "du Pré Vert",
    "des Saules",
    "de la Cascade",
    "des Aubépines",
    "des Balcons",
    "des Buis",
    "de la Combe",
    "des Cigales",
    "du Bois Joli",
    "des Fontaines",
    "des Jonquilles",
    "des Lavandes",
    "de la Pinède",
    "des Primevères",
    "du Grand Chêne",
    "des Roches Blanches",
    "du Val d'Azur",
    "des Violettes",
    "du Haut Pré",
    "des Mésanges",
]
PERSON_NAMES = [
    "Marguerite-Delorme",
    "Claire-Vernay",
    "Émile-Perrin",
    "Louise-Chabert",
    "Antoine-Gerlier",
    "Hélène-Boissonnet",
    "Paul-Vidalin",
    "Joséphine-Mathon",
    "Henri-Fayolle",
    "Suzanne-Ravelet",
    "Lucien-Bardonnet",
    "Madeleine-Crozet",
    "Gaston-Ferrandin",
    "Irène-Monteil",
    "Jules-Sauvagnat",
    "Adèle-Perret",
    "Victor-Chambeyron",
    "Berthe-Granjon",
    "Félix-Roustan",
    "Odette-Vianès",
    "Étienne-Marcillac",
    "Germaine-Tardieu",
    "Léon-Brunerie",
    "Yvonne-Ducreux",
    "Raymond-Chapuis",
    "Simone-Magnat",
    "Albert-Jouvenel",
    "Rose-Bertholet",
    "Marcel-Domenjoud",
    "Jeanne-Vallier",
]
STREET_TYPES = ["R", "AV", "BD", "CHE", "PL", "RTE", "ALL", "QUAI"]
STREETS = [
    "DE LA REPUBLIQUE",
    "DU GENERAL LECLERC",
    "DES ALPES",
    "JEAN JAURES",
    "VICTOR HUGO",
    "DE L HOPITAL",
    "DES ECOLES",
    "PASTEUR",
    "DU 8 MAI 1945",
    "DE LA GARE",
    "DU STADE",
    "DES TANNEURS",
    "DU DOCTEUR ROUX",
    "MARIE CURIE",
    "DE LA LIBERATION",
    "DES CARMES",
    "DU PONT NEUF",
    "DES PRES",
    "ANATOLE FRANCE",
    "DE LA PAIX",
]
SPH = {  # legal status -> (codesph, libsph)
    PUBLIC: ("1", "Etablissement public de santé"),
    NON_PROFIT: ("6", "Etablissement de santé privé d'intérêt collectif"),
    FOR_PROFIT: ("9", "Etablissement de santé privé non habilité à assurer le SPH"),
}
MFT = {  # (sector, legal status) -> (codemft, libmft)
    ("sanitaire", PUBLIC): ("03", "ARS établissements Publics de santé dotation globale"),
    ("sanitaire", NON_PROFIT): ("04", "ARS établissements de santé privés d'intérêt collectif"),
    ("sanitaire", FOR_PROFIT): ("07", "ARS établissements de santé privés à but lucratif"),
    ("medico_social", PUBLIC): ("45", "ARS/PCD Tarif global"),
    ("medico_social", NON_PROFIT): ("40", "ARS Tarif global"),
    ("medico_social", FOR_PROFIT): ("46", "ARS/PCD Tarif partiel"),
}


STATUTS = {  # FINESS `statutjuridique` of the legal entities (read by the import's status table)
    "hospital": ("13", "Etablissement Public Communal d'Hospitalisation"),
    "psychiatry": ("15", "Etablissement Public Départemental d'Hospitalisation"),
    "medico_social_public": ("21", "Etablissement Social et Médico-Social Communal"),
    "Association": ("60", "Association Loi 1901 non Reconnue d'Utilité Publique"),
    "Association gestionnaire": ("61", "Association Loi 1901 Reconnue d'Utilité Publique"),
    "Association départementale": ("61", "Association Loi 1901 Reconnue d'Utilité Publique"),
    "Fondation": ("63", "Fondation"),
    "Mutualité": ("47", "Société Mutualiste"),
    "SAS": ("95", "Société par Actions Simplifiée (S.A.S.)"),
    "SA": ("73", "Société Anonyme (S.A.)"),
    "SARL": ("72", "Société à Responsabilité Limitée (S.A.R.L.)"),
}


@dataclass
class Address:
    commune_code: str
    postal_code: str
    commune: str
    street_number: str
    street_type: str
    street: str
    phone: str


@dataclass
class LegalEntityPlan:
    finess: str
    name: str
    departement: str
    legal_status: str
    statut: tuple[str, str]  # FINESS statutjuridique code and label
    address: Address
    siren: str
    created_on: str


@dataclass
class EstablishmentPlan:
    finess: str
    legal_entity: str  # FINESS of the legal entity
    name: str
    category: str
    legal_status: str
    departement: str
    address: Address
    siret: str
    opened_on: str
    beds: int | None
    places: int | None
    staff_count: int
    operating_budget_eur: Decimal
    ght: str | None = None  # GHT key
    is_support: bool = False

    @property
    def commune(self) -> str:
        return self.address.commune


@dataclass
class DemoPlan:
    legal_entities: list[LegalEntityPlan] = field(default_factory=list)
    establishments: list[EstablishmentPlan] = field(default_factory=list)
    home_finess: str = ""  # where the director, RSSI, DSI and learner work
    other_finess: str = ""  # the second RSSI's establishment, in another GHT

    def establishment(self, finess: str) -> EstablishmentPlan:
        return next(e for e in self.establishments if e.finess == finess)

    def finess_numbers(self) -> set[str]:
        return {e.finess for e in self.establishments} | {j.finess for j in self.legal_entities}


class _Numbers:
    """Unique, valid FINESS numbers per département: 2 digits, a serial, the Luhn key."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def finess(self, departement: str, *, legal_entity: bool = False) -> str:
        serial = self._next.get(departement, 0)
        self._next[departement] = serial + 1
        # Legal entities and establishments draw from two ranges, as in the real registry.
        body = f"{departement}{'08' if legal_entity else '79'}{serial:04d}"
        number = body + luhn_key(body)
        assert luhn_is_valid(number)
        return number


def _siren(rng: random.Random, *, public: bool) -> str:
    """A SIREN with a valid Luhn key; public health establishments' start with 26, as in the
    real register."""
    head = ("26" if public else str(rng.randint(30, 89))) + f"{rng.randint(0, 999_999):06d}"
    return head + luhn_key(head)


def _siret(rng: random.Random, siren: str) -> str:
    head = siren + f"{rng.randint(1, 999):04d}"
    return head + luhn_key(head)


def _date(rng: random.Random, first_year: int, last_year: int) -> str:
    return datetime.date(
        rng.randint(first_year, last_year), rng.randint(1, 12), rng.randint(1, 28)
    ).isoformat()


def _address(rng: random.Random, departement: str, commune_index: int | None = None) -> Address:
    communes = DEPARTEMENTS[departement][2]
    code, postal, commune = communes[
        rng.randrange(len(communes)) if commune_index is None else commune_index
    ]
    return Address(
        code,
        postal,
        commune,
        str(rng.randint(1, 140)),
        rng.choice(STREET_TYPES),
        rng.choice(STREETS),
        "04" + f"{rng.randint(0, 99_999_999):08d}",
    )


class _Names:
    """Fictional names, unique across the region."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def pick(self, prefix: str, commune: str, *, person: bool = False) -> str:
        pool = PERSON_NAMES if person else PLACE_NAMES
        candidates = [f"{prefix} {n}" for n in pool]
        self.rng.shuffle(candidates)
        for name in candidates:
            if name not in self.used:
                self.used.add(name)
                return name
        suffix = 1
        name = f"{prefix} {self.rng.choice(pool)} – {commune}"
        while name in self.used:
            suffix += 1
            name = f"{prefix} {self.rng.choice(pool)} – {commune} {suffix}"
        self.used.add(name)
        return name


def _weighted_departement(rng: random.Random, flat: int = 0) -> str:
    codes = list(DEPARTEMENTS)
    return rng.choices(codes, weights=[DEPARTEMENTS[c][1] + flat for c in codes])[0]


def _figures(
    rng: random.Random, spec: CategorySpec, scale: float = 1.0
) -> tuple[int | None, int | None, int, Decimal]:
    size = max(1, round(rng.randint(*spec.size) * scale))
    staff = max(3, round(size * rng.uniform(*spec.staff_per_unit)))
    budget = Decimal(round(size * rng.randint(*spec.budget_per_unit), -3)).quantize(Decimal("0.01"))
    return (size, None, staff, budget) if spec.capacity == "beds" else (None, size, staff, budget)


def _ght_for(departement: str, commune: str) -> str:
    if departement == "69":
        return "beaujolais-dombes" if commune in _BEAUJOLAIS_COMMUNES else "rhone-centre"
    return next(key for key, _name, dep in GHTS if dep == departement)


def _statut(status: str, name: str, category: str) -> tuple[str, str]:
    if status == PUBLIC:
        if CATEGORIES[category].sector == "medico_social":
            return STATUTS["medico_social_public"]
        return STATUTS["psychiatry" if category == "292" else "hospital"]
    for prefix in sorted(STATUTS, key=len, reverse=True):
        if name.startswith(prefix + " "):
            return STATUTS[prefix]
    return STATUTS["Association" if status == NON_PROFIT else "SAS"]


def _legal_entity_name(rng: random.Random, name: str, status: str) -> str:
    if status == FOR_PROFIT:
        return f"{rng.choice(['SAS', 'SA', 'SARL'])} {name}"
    return f"{rng.choice(['Association', 'Fondation', 'Association gestionnaire'])} {name}"


def build_plan(seed: int = SEED) -> DemoPlan:
    """The whole demo region, as plain data. Deterministic for a given seed."""
    rng = random.Random(seed)  # noqa: S311 - deterministic demo data, not secrets
    numbers = _Numbers()
    names = _Names(rng)
    plan = DemoPlan()

    def new_legal_entity(
        name: str,
        departement: str,
        status: str,
        category: str,
        address: Address,
    ) -> LegalEntityPlan:
        entity = LegalEntityPlan(
            finess=numbers.finess(departement, legal_entity=True),
            name=name,
            departement=departement,
            legal_status=status,
            statut=_statut(status, name, category),
            address=address,
            siren=_siren(rng, public=status == PUBLIC),
            created_on=_date(rng, 1950, 2010),
        )
        plan.legal_entities.append(entity)
        return entity

    def new_establishment(
        category: str,
        status: str,
        departement: str,
        commune_index: int | None = None,
        *,
        name: str | None = None,
        legal_entity: LegalEntityPlan | None = None,
        scale: float = 1.0,
    ) -> EstablishmentPlan:
        spec = CATEGORIES[category]
        address = _address(rng, departement, commune_index)
        if name is None:
            prefix = rng.choice(spec.prefixes)
            name = names.pick(
                prefix, address.commune, person=category == "131" or rng.random() < 0.2
            )
        if legal_entity is None:
            ej_name = name if status == PUBLIC else _legal_entity_name(rng, name, status)
            legal_entity = new_legal_entity(ej_name, departement, status, category, address)
        beds, places, staff, budget = _figures(rng, spec, scale)
        establishment = EstablishmentPlan(
            finess=numbers.finess(departement),
            legal_entity=legal_entity.finess,
            name=name,
            category=category,
            legal_status=status,
            departement=departement,
            address=address,
            siret=_siret(rng, legal_entity.siren),
            opened_on=_date(rng, 1955, 2018),
            beds=beds,
            places=places,
            staff_count=staff,
            operating_budget_eur=budget,
        )
        plan.establishments.append(establishment)
        return establishment

    # University hospitals: one legal entity, several sites; the first site supports its GHT.
    for ej_name, departement, city, sites in CHU_PLAN:
        city_index = next(i for i, c in enumerate(DEPARTEMENTS[departement][2]) if c[2] == city)
        ej = new_legal_entity(
            ej_name, departement, PUBLIC, "101", _address(rng, departement, city_index)
        )
        for site in range(sites):
            et = new_establishment(
                "101",
                PUBLIC,
                departement,
                city_index,
                legal_entity=ej,
                name=names.pick("Hôpital", city, person=True),
                scale=1.6 if site == 0 else 1.0,
            )
            et.ght = _ght_for(departement, city)
            et.is_support = site == 0

    # Every département gets at least one general hospital, in its first commune.
    firsts = [("355", PUBLIC, dep) for dep in DEPARTEMENTS]
    rest = []
    for category, status, count in ES_PLAN:
        remaining = count - sum(1 for c, s, _d in firsts if c == category and s == status)
        # Public hospitals are spread more evenly than private clinics, which follow the cities.
        flat = 4 if status == PUBLIC else 0
        rest += [(category, status, _weighted_departement(rng, flat)) for _ in range(remaining)]
    for i, (category, status, departement) in enumerate(firsts + rest):
        first = i < len(firsts)
        et = new_establishment(
            category, status, departement, 0 if first else None, scale=1.2 if first else 1.0
        )
        if status == PUBLIC:
            et.ght = _ght_for(departement, et.commune)

    # A few public hospitals stay outside any GHT (derogations), never a support.
    public = [e for e in plan.establishments if e.legal_status == PUBLIC and e.category != "101"]
    for et in rng.sample(public[len(firsts) :], 6):
        et.ght = None

    # Support establishment of each GHT without a CHU: its largest general hospital.
    for key, _name, _dep in GHTS:
        members = [e for e in plan.establishments if e.ght == key]
        if not any(e.is_support for e in members):
            max(
                members, key=lambda e: (e.category == "355", e.beds or 0, e.finess)
            ).is_support = True

    # Medico-social: public EHPAD often belong to a hospital's legal entity; associations run several.
    hospitals_by_dep: dict[str, list[LegalEntityPlan]] = {}
    entities = {j.finess: j for j in plan.legal_entities}
    for et in plan.establishments:
        if et.category in ("355", "106"):
            hospitals_by_dep.setdefault(et.departement, []).append(entities[et.legal_entity])
    associations = []
    for name in ASSOCIATIONS:
        dep = _weighted_departement(rng)
        associations.append(new_legal_entity(name, dep, NON_PROFIT, "183", _address(rng, dep)))
    for category, status, count in ESSMS_PLAN:
        for _ in range(count):
            dep = _weighted_departement(rng)
            legal_entity = None
            if (
                category == "500"
                and status == PUBLIC
                and hospitals_by_dep.get(dep)
                and rng.random() < 0.5
            ):
                legal_entity = rng.choice(hospitals_by_dep[dep])
            elif status == NON_PROFIT and category != "500" and rng.random() < 0.6:
                legal_entity = rng.choice(associations)
                dep = legal_entity.departement
            new_establishment(category, status, dep, legal_entity=legal_entity)

    plan.home_finess = _pick_demo_home(plan, "alpes-dauphine")
    plan.other_finess = _pick_demo_home(plan, "savoie")
    return plan


def _pick_demo_home(plan: DemoPlan, ght: str) -> str:
    """A general hospital of that GHT that is not its support: a typical member."""
    candidates = sorted(
        (
            e
            for e in plan.establishments
            if e.ght == ght and e.category == "355" and not e.is_support
        ),
        key=lambda e: e.finess,
    ) or sorted(
        (e for e in plan.establishments if e.ght == ght and not e.is_support),
        key=lambda e: e.finess,
    )
    return candidates[0].finess


# --- The FINESS extract -------------------------------------------------------------------------


def _upper_ascii(value: str) -> str:
    plain = unicodedata.normalize("NFKD", value.replace("–", "-").replace("—", "-"))
    return plain.encode("ascii", "ignore").decode("ascii").upper()


def _short_name(name: str) -> str:
    short = _upper_ascii(name)
    for long, abbr in [
        ("CENTRE HOSPITALIER SPECIALISE", "CHS"),
        ("CENTRE HOSPITALIER", "CH"),
        ("ETABLISSEMENT", "ETS"),
        ("SOINS DE SUITE ET DE READAPTATION", "SSR"),
        ("HOSPITALISATION A DOMICILE", "HAD"),
        ("ASSOCIATION", "ASS"),
    ]:
        short = short.replace(long, abbr)
    return short[:38]


def _routing(address: Address) -> str:
    return f"{address.postal_code} {_upper_ascii(address.commune)}"


def finess_lines(plan: DemoPlan) -> list[str]:
    """The plan as a FINESS extract: the metadata line, the legal entities (`structureej`,
    23 fields) and the establishments (`structureet`, the 32 fields of the public format)."""
    lines = [f"finess;etalab;101;{FINESS_EXTRACT_DATE}"]
    for ej in plan.legal_entities:
        a = ej.address
        fields = [
            "structureej",
            ej.finess,
            _short_name(ej.name),
            ej.name,
            "",  # complrs
            a.street_number,
            a.street_type,
            a.street,
            "",
            "",
            "",  # compvoie, compldistrib, lieuditbp
            a.commune_code,
            _routing(a),
            ej.departement,
            _upper_ascii(DEPARTEMENTS[ej.departement][0]),
            a.phone,
            ej.statut[0],
            ej.statut[1],
            "",
            "",  # categetab, libcategetab (EJ: unused)
            ej.siren,
            "",
            ej.created_on,
        ]
        assert len(fields) == 23
        lines.append(";".join(fields))
    for et in plan.establishments:
        spec = CATEGORIES[et.category]
        a = et.address
        aggregate_code, aggregate_label = CATEGORY_AGGREGATES[et.category]
        mft_code, mft_label = MFT[(spec.sector, et.legal_status)]
        sph_code, sph_label = SPH[et.legal_status] if spec.sector == "sanitaire" else ("", "")
        fields = [
            "structureet",
            et.finess,
            et.legal_entity,
            _short_name(et.name),
            et.name,
            "",
            "",  # complrs, compldistrib
            a.street_number,
            a.street_type,
            a.street,
            "",
            "",  # compvoie, lieuditbp
            a.commune_code,
            et.departement,
            _upper_ascii(DEPARTEMENTS[et.departement][0]),
            _routing(a),
            a.phone,
            "",  # telecopie
            et.category,
            spec.label,
            aggregate_code,
            aggregate_label,
            et.siret,
            spec.ape,
            mft_code,
            mft_label,
            sph_code,
            sph_label,
            et.opened_on,
            et.opened_on,
            FINESS_EXTRACT_DATE,
            "",  # numuai
        ]
        assert len(fields) == 32
        lines.append(";".join(fields))
    assert not any(line.count(";") not in (22, 31) for line in lines[1:])
    return lines


# FINESS aggregate categories (categagretab), for the categories above.
CATEGORY_AGGREGATES: dict[str, tuple[str, str]] = {
    "101": ("1101", "Centres Hospitaliers Régionaux"),
    "355": ("1102", "Centres Hospitaliers"),
    "106": ("1102", "Centres Hospitaliers"),
    "292": ("1106", "Etablissements Hospitaliers Spécialisés Lutte Maladies Mentales"),
    "131": ("1107", "Centres de Lutte contre le Cancer"),
    "365": ("1109", "Etablissements de Soins Pluridisciplinaires"),
    "128": ("1110", "Etablissements de Soins Chirurgicaux"),
    "109": ("1111", "Etablissements de Soins de Suite et de Réadaptation"),
    "161": ("1106", "Etablissements Hospitaliers Spécialisés Lutte Maladies Mentales"),
    "127": ("1204", "Hospitalisation à Domicile"),
    "146": ("1205", "Structures de Dialyse"),
    "362": ("1112", "Etablissements de Soins de Longue Durée"),
    "500": ("4401", "Etablissements et Services pour Personnes Âgées"),
    "202": ("4401", "Etablissements et Services pour Personnes Âgées"),
    "183": ("4101", "Etablissements et Services pour l'Enfance Handicapée"),
    "182": ("4101", "Etablissements et Services pour l'Enfance Handicapée"),
    "246": ("4301", "Etablissements et Services de Travail Protégé"),
    "255": ("4302", "Etablissements et Services d'Hébergement pour Adultes Handicapés"),
    "448": ("4302", "Etablissements et Services d'Hébergement pour Adultes Handicapés"),
    "354": ("4403", "Services de Soins à Domicile"),
}


# --- Accounts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: Role
    first_name: str
    last_name: str
    job_title: str
    organisation: str  # "national" | "ars" | "crrc" | "provider" | "ght" | "home" | "other"

    @property
    def totp_secret(self) -> str:
        """A fixed per-account base32 secret, so the printed instructions stay true."""
        digest = hashlib.sha256(f"rempart-demo-totp:{self.email}".encode()).digest()[:20]
        return base64.b32encode(digest).decode("ascii")


def _email(local: str) -> str:
    return f"{local}@{DEMO_DOMAIN}"


ACCOUNTS: list[DemoAccount] = [
    DemoAccount(
        _email("national"),
        Role.NATIONAL_OBSERVER,
        "Nadia",
        "Benali",
        "Chargée de mission nationale",
        "national",
    ),
    DemoAccount(
        _email("ars"), Role.ARS_MANAGER, "Arnaud", "Rivière", "Chargé de programme CaRE", "ars"
    ),
    DemoAccount(
        _email("crrc"), Role.CRRC_OPERATOR, "Céline", "Rochas", "Opératrice du CRRC", "crrc"
    ),
    DemoAccount(
        _email("astreinte"), Role.CRRC_ONCALL, "Olivier", "Astier", "Expert d'astreinte", "crrc"
    ),
    DemoAccount(
        _email("formateur"), Role.TRAINER, "Fanny", "Morel", "Formatrice sensibilisation", "crrc"
    ),
    DemoAccount(
        _email("ght"), Role.GHT_COORDINATOR, "Gilles", "Hautier", "Coordinateur SI du GHT", "ght"
    ),
    DemoAccount(_email("directeur"), Role.DIRECTOR, "Danielle", "Girard", "Directrice", "home"),
    DemoAccount(_email("rssi"), Role.RSSI, "Romain", "Sanchez", "RSSI", "home"),
    DemoAccount(_email("dsi"), Role.DSI, "Delphine", "Simon", "DSI", "home"),
    DemoAccount(_email("agent"), Role.STAFF, "Alice", "Garnier", "Infirmière", "home"),
    DemoAccount(
        _email("prestataire"),
        Role.PROVIDER_EXPERT,
        "Pierre",
        "Estève",
        "Expert réponse à incident",
        "provider",
    ),
    DemoAccount(_email("rssi2"), Role.RSSI, "Rachida", "Saïdi", "RSSI", "other"),
]
PENDING_INVITATION = (_email("nouvelle.recrue"), Role.STAFF, "home")


def is_demo_email(email: str) -> bool:
    return email.strip().lower().endswith("@" + DEMO_DOMAIN)


def current_totp_code(secret: str) -> tuple[str, int]:
    """The code an authenticator app shows now for `secret`, computed with allauth's own
    helpers (so it is the code allauth accepts), and the seconds it stays valid."""
    from allauth.mfa import app_settings as mfa_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    now = time.time()
    period = mfa_settings.TOTP_PERIOD
    code = format_hotp_value(hotp_value(secret, int(now) // period))
    return code, period - int(now) % period


def totp_secret_of(user) -> str | None:
    """The base32 secret of the user's TOTP authenticator, or None when they have none."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import decrypt

    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return decrypt(authenticator.data["secret"]) if authenticator else None


def otpauth_uri(user, secret: str) -> str:
    from allauth.mfa.adapter import get_adapter

    return get_adapter().build_totp_url(user, secret)


# --- Seeding ------------------------------------------------------------------------------------


class DemoError(Exception):
    """The demo could not be created; the message says why, in French."""


@dataclass
class SeedResult:
    plan: DemoPlan
    import_output: str
    organisations_updated: int = 0
    accounts: list[tuple[DemoAccount, Any, Organisation]] = field(default_factory=list)
    invitation: Invitation | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _fixed_organisations(
    region: Region, departements: dict[str, Departement]
) -> dict[str, Organisation]:
    rhone = departements["69"]
    wanted = {
        "national": (OrgKind.NATIONAL, NATIONAL_NAME, None, None),
        "ars": (OrgKind.ARS, ARS_NAME, region, rhone),
        "crrc": (OrgKind.CRRC, CRRC_NAME, region, rhone),
        "provider": (OrgKind.PROVIDER, PROVIDER_NAME, region, departements["38"]),
    }
    orgs = {}
    for key, (kind, name, org_region, departement) in wanted.items():
        orgs[key], _created = Organisation.objects.get_or_create(
            kind=kind, name=name, defaults={"region": org_region, "departement": departement}
        )
    for key, name, dep in GHTS:
        orgs[f"ght:{key}"], _created = Organisation.objects.get_or_create(
            kind=OrgKind.GHT,
            name=name,
            defaults={"region": region, "departement": departements[dep]},
        )
    return orgs


def _sync_fields(obj, values: dict[str, Any]) -> bool:
    """Set the values that differ and save them (audited); False when nothing changed."""
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if not changed:
        return False
    for name in changed:
        setattr(obj, name, values[name])
    obj.save(update_fields=[*changed, "updated_at"] if hasattr(obj, "updated_at") else changed)
    return True


def _import_extract(plan: DemoPlan, region: Region) -> str:
    """Write the plan as a FINESS file and load it with the real `import_finess` command.

    A dry run first: when the registry already holds exactly this extract, the import is not
    run again, so a second `seed_demo` does not even add a run to the import log."""
    from .importer import FinessFileError, run_command_import

    out = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="rempart-demo-") as folder:
        path = Path(folder) / "finess_demo_auvergne_rhone_alpes.csv"
        path.write_text("\n".join(finess_lines(plan)) + "\n", encoding="utf-8")
        try:
            _run, preview = run_command_import(path=path, region=region, dry_run=True)
            if preview.created or preview.updated or preview.rejected:
                call_command("import_finess", str(path), "--region", REGION_CODE, stdout=out)
            else:
                out.write(
                    f"Déjà à jour : les {preview.unchanged} organisations de l'extraction sont inchangées.\n"
                )
        except (CommandError, FinessFileError) as exc:
            raise DemoError(f"L'import FINESS de démonstration a échoué : {exc}") from exc
    known = set(
        Organisation.objects.filter(finess__in=plan.finess_numbers()).values_list(
            "finess", flat=True
        )
    )
    missing = plan.finess_numbers() - known
    if missing:
        raise DemoError(
            f"L'import FINESS de démonstration n'a pas créé {len(missing)} organisation(s) "
            f"(par exemple {sorted(missing)[0]}). Rapport de l'import :\n{out.getvalue()}"
        )
    return out.getvalue()


def _apply_plan(plan: DemoPlan, orgs: dict[str, Organisation]) -> int:
    """What a FINESS extract does not say: GHT, support establishments, activity figures."""
    updated = 0
    by_finess = {o.finess: o for o in Organisation.objects.filter(finess__in=plan.finess_numbers())}
    for et in plan.establishments:
        org = by_finess[et.finess]
        updated += _sync_fields(
            org,
            {
                "ght_id": orgs[f"ght:{et.ght}"].pk if et.ght else None,
                "legal_status": et.legal_status,
                "beds": et.beds,
                "places": et.places,
                "staff_count": et.staff_count,
                "operating_budget_eur": et.operating_budget_eur,
            },
        )
    for et in plan.establishments:
        if et.is_support:
            updated += _sync_fields(
                orgs[f"ght:{et.ght}"], {"support_establishment_id": by_finess[et.finess].pk}
            )
    return updated


def _accounts(
    plan: DemoPlan, orgs: dict[str, Organisation]
) -> list[tuple[DemoAccount, Any, Organisation]]:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP

    homes = {
        **{key: orgs[key] for key in ("national", "ars", "crrc", "provider")},
        "ght": orgs["ght:" + plan.establishment(plan.home_finess).ght],
        "home": Organisation.objects.get(finess=plan.home_finess),
        "other": Organisation.objects.get(finess=plan.other_finess),
    }
    result = []
    for account in ACCOUNTS:
        organisation = homes[account.organisation]
        user = User.objects.filter(email__iexact=account.email).first()
        if user is None:
            user = User(email=account.email)
        _set_user(user, account)
        Membership.objects.get_or_create(
            user=user, organisation=organisation, role=account.role, valid_until=None
        )
        if ROLES[account.role].requires_mfa:
            if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                TOTP.activate(user, account.totp_secret)
            RecoveryCodes.activate(user)  # returns the existing codes when there are some
        result.append((account, user, organisation))
    return result


def _set_user(user, account: DemoAccount) -> None:
    values = {
        "first_name": account.first_name,
        "last_name": account.last_name,
        "job_title": account.job_title,
        "is_active": True,
    }
    if user.pk is None:
        for name, value in values.items():
            setattr(user, name, value)
        validate_password(DEMO_PASSWORD, user)
        user.set_password(DEMO_PASSWORD)
        user.save()
        return
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, values[name])
    if not user.check_password(DEMO_PASSWORD):  # someone changed it: the summary must stay true
        user.set_password(DEMO_PASSWORD)
        changed.append("password")
    if changed:
        user.save(update_fields=changed)


def _pending_invitation(plan: DemoPlan, accounts) -> Invitation:
    email, role, _where = PENDING_INVITATION
    organisation = Organisation.objects.get(finess=plan.home_finess)
    director = next(user for account, user, _org in accounts if account.role == Role.DIRECTOR)
    now = timezone.now()
    pending = Invitation.objects.filter(
        email__iexact=email,
        organisation=organisation,
        role=role,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
    ).first()
    if pending and pending.expires_at > now:
        return pending
    if pending:  # expired since the last run: replaced by a fresh one
        pending.revoked_at = now
        pending.save(update_fields=["revoked_at"])
    # Created directly rather than through the service: the demo sends no e-mail.
    return Invitation.objects.create(
        email=email,
        organisation=organisation,
        role=role,
        invited_by=director,
        expires_at=now + datetime.timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )


def reset(plan: DemoPlan) -> int:
    """Remove the demo region's organisations and the demo accounts. Returns the number of
    organisations removed."""
    names = [NATIONAL_NAME, ARS_NAME, CRRC_NAME, PROVIDER_NAME] + [
        name for _key, name, _dep in GHTS
    ]
    with transaction.atomic():
        User.objects.filter(email__iendswith="@" + DEMO_DOMAIN).delete()
        orgs = Organisation.objects.filter(
            Q(finess__in=plan.finess_numbers()) | Q(name__in=names, finess__isnull=True)
        )
        ids = list(orgs.values_list("pk", flat=True))
        Membership.objects.filter(organisation_id__in=ids).delete()
        Invitation.objects.filter(organisation_id__in=ids).delete()
        Organisation.objects.filter(ght_id__in=ids).update(ght=None)
        Organisation.objects.filter(pk__in=ids).update(
            ght=None, support_establishment=None, legal_entity=None
        )
        try:
            Organisation.objects.filter(pk__in=ids, kind=OrgKind.ESTABLISHMENT).delete()
            Organisation.objects.filter(pk__in=ids).delete()
        except ProtectedError as exc:
            raise DemoError(
                "Impossible de supprimer la région de démonstration : d'autres données y font référence "
                f"({len(exc.protected_objects)} objet(s)). Supprimez la base (make clean) pour repartir de zéro."
            ) from exc
    return len(ids)


def seed(*, reset_first: bool = False) -> SeedResult:
    """Create or bring up to date the demo region. Idempotent: a second run changes nothing."""
    plan = build_plan()
    call_command("load_reference_data", stdout=io.StringIO())
    if reset_first:
        reset(plan)
    region = Region.objects.filter(code=REGION_CODE).first()
    if region is None:
        raise DemoError(
            f"La région {REGION_CODE} est absente des données de référence (departements.yaml)."
        )
    departements = {d.code: d for d in Departement.objects.filter(code__in=DEPARTEMENTS)}
    with transaction.atomic():
        orgs = _fixed_organisations(region, departements)
    import_output = _import_extract(plan, region)
    with transaction.atomic():
        updated = _apply_plan(plan, orgs)
        accounts = _accounts(plan, orgs)
        invitation = _pending_invitation(plan, accounts)
    establishments = Organisation.objects.filter(finess__in=[e.finess for e in plan.establishments])
    counts = {
        "ght": Organisation.objects.filter(
            pk__in=[orgs[f"ght:{k}"].pk for k, _n, _d in GHTS]
        ).count(),
        "sanitaire": establishments.filter(sector=Sector.HEALTH).count(),
        "medico_social": establishments.filter(sector=Sector.MEDICO_SOCIAL).count(),
        "legal_entities": Organisation.objects.filter(
            finess__in=[j.finess for j in plan.legal_entities], kind=OrgKind.LEGAL_ENTITY
        ).count(),
        "ght_members": establishments.filter(ght__isnull=False).count(),
    }
    return SeedResult(
        plan=plan,
        import_output=import_output,
        organisations_updated=updated,
        accounts=accounts,
        invitation=invitation,
        counts=counts,
    )
