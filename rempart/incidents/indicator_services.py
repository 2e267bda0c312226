"""Indicators of compromise of a case: validation and normalisation per kind, single and bulk
addition, removal.

Every value is stored normalised (see `normalise`) so that the same indicator is recorded once
per case whatever way it was typed: « defanged » input (hxxp://, exemple[.]fr, a[@]b.fr) is
refanged, hashes and domains are lower-cased (domains in their ASCII form, xn--…), IPv6
addresses compressed. A malformed value is refused with the reason, on the field `value`.

TLP: each indicator carries its own TLP 2.0 level, chosen freely (an indicator may be shared
more widely than the case it comes from, or less); the STIX export filters on it.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import string
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from rempart.core.errors import DomainError

from . import perms, timeline
from .exports import allows
from .models import Case, CaseState, EventKind, Indicator, IndicatorKind, Tlp

K = IndicatorKind
VALUE_MAX_LENGTH = 2000
DESCRIPTION_MAX_LENGTH = 5000
BULK_MAX_LINES = 1000
# A clock a little ahead of ours is not a reason to refuse a « first seen » date.
CLOCK_SKEW = datetime.timedelta(minutes=5)
HASH_LENGTHS = {K.MD5: 32, K.SHA1: 40, K.SHA256: 64}
HASH_BY_LENGTH = {length: kind for kind, length in HASH_LENGTHS.items()}
HEX = frozenset(string.hexdigits)
URL_SCHEMES = ("http", "https", "ftp")
# Last labels that name a file, not a domain, when the kind is guessed (« facture.pdf.exe »).
# (.com, .pl, .py, .sh… are TLDs in use: they stay domains; .zip counts as a file.)
FILE_EXTENSIONS = frozenset(
    "exe dll scr bat cmd ps1 vbs vbe js jse wsf hta lnk msi jar bin dat tmp iso img vhd "  # noqa: SIM905
    "doc docx docm xls xlsx xlsm ppt pptx pptm pdf rtf odt txt csv log zip rar 7z gz tar eml "
    "msg html htm svg chm elf apk dmg".split()
)


def kind_label(kind: str) -> str:
    return str(IndicatorKind(kind).label)


# --- Refanging ----------------------------------------------------------------------------------

_DEFANGS = [
    (re.compile(r"^(hxxp|h\[tt\]p|h__p)(s?)(?=\[?:)", re.I), r"http\2"),
    (re.compile(r"^fxp(?=\[?:)", re.I), "ftp"),
    (re.compile(r"\[://\]|\(://\)"), "://"),
    (re.compile(r"\[:\]|\(:\)"), ":"),
    (re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}|\[point\]", re.I), "."),
    (re.compile(r"\[@\]|\(@\)|\{@\}|\[at\]|\(at\)|\{at\}|\[arobase\]", re.I), "@"),
    (re.compile(r"\[/\]"), "/"),
]


def refang(raw: str) -> str:
    """Undo the usual « defanging » of shared indicators (hxxp://, [.], [@], [:])."""
    text = raw.strip()
    for pattern, replacement in _DEFANGS:
        text = pattern.sub(replacement, text)
    return text


# --- Normalisation per kind ---------------------------------------------------------------------


def _refuse(message: str, code: str = "invalid_value") -> DomainError:
    return DomainError(message, code=code, field="value")


def _ipv4(value: str) -> str:
    if "/" in value:
        return _network(value, 4)
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        pass
    if _looks_ipv6(value):
        raise _refuse(
            f"« {value} » est une adresse IPv6 : choisissez le type « Adresse IPv6 ».",
            code="wrong_kind",
        )
    parts = value.split(".")
    for part in parts:
        if part and not part.isdigit():
            raise _refuse(
                f"« {value} » n'est pas une adresse IPv4 : « {part} » n'est pas un nombre. "
                "S'il s'agit d'un nom de domaine, choisissez le type « Nom de domaine »."
            )
    if len(parts) != 4 or not all(parts):
        raise _refuse(
            f"« {value} » n'est pas une adresse IPv4 : une adresse IPv4 compte 4 nombres séparés "
            f"par des points (ici {len([p for p in parts if p])})."
        )
    for part in parts:
        if int(part) > 255:
            raise _refuse(
                f"« {value} » n'est pas une adresse IPv4 : chaque nombre va de 0 à 255 "
                f"({part} dépasse)."
            )
        if len(part) > 1 and part.startswith("0"):
            raise _refuse(
                f"« {value} » n'est pas une adresse IPv4 valide : « {part} » commence par un zéro "
                "(ambigu, lu en octal par certains outils). Écrivez-le sans zéro initial."
            )
    raise _refuse(f"« {value} » n'est pas une adresse IPv4.")


def _looks_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value.split("/", 1)[0])
    except ValueError:
        return False
    return True


def _looks_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value.split("/", 1)[0])
    except ValueError:
        return False
    return True


def _network(value: str, version: int) -> str:
    """A CIDR block (STIX accepts them as ipv4-addr / ipv6-addr values)."""
    label = "IPv4" if version == 4 else "IPv6"
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            base = ipaddress.ip_network(value, strict=False)
            raise _refuse(
                f"« {value} » n'est pas un bloc {label} : l'adresse ne commence pas le bloc "
                f"(le bloc est {base})."
            ) from exc
        raise _refuse(
            f"« {value} » n'est pas un bloc d'adresses {label} valide (notation attendue : "
            f"{'192.0.2.0/24' if version == 4 else '2001:db8::/32'})."
        ) from exc
    if network.version != version:
        other = "IPv6" if version == 4 else "IPv4"
        raise _refuse(
            f"« {value} » est un bloc {other} : choisissez le type « Adresse {other} ».",
            code="wrong_kind",
        )
    return str(network)


def _ipv6(value: str) -> str:
    if "%" in value:
        raise _refuse(
            f"« {value} » contient un identifiant de zone (après « % ») propre à une machine : "
            "retirez-le."
        )
    if "/" in value:
        return _network(value, 6)
    if _looks_ipv4(value):
        raise _refuse(
            f"« {value} » est une adresse IPv4 : choisissez le type « Adresse IPv4 ».",
            code="wrong_kind",
        )
    try:
        return ipaddress.IPv6Address(value).compressed
    except ValueError as exc:
        raise _refuse(
            f"« {value} » n'est pas une adresse IPv6 : huit groupes de 1 à 4 chiffres "
            "hexadécimaux séparés par « : » (« :: » remplace une suite de groupes nuls), "
            "par exemple 2001:db8::1."
        ) from exc


_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def _domain(value: str, *, what: str = "nom de domaine") -> str:
    text = value.strip().rstrip(".")
    if "://" in text:
        raise _refuse(
            f"Indiquez le {what} seul, sans « {text.split('://', 1)[0]}:// » ; pour une adresse "
            "complète, choisissez le type « URL ».",
            code="wrong_kind",
        )
    if any(ch in text for ch in "/?#"):
        raise _refuse(
            f"« {value} » contient un chemin : indiquez le {what} seul, ou choisissez le type "
            "« URL ».",
            code="wrong_kind",
        )
    if "@" in text:
        raise _refuse(
            f"« {value} » contient « @ » : pour une adresse e-mail, choisissez le type "
            "« Adresse e-mail ».",
            code="wrong_kind",
        )
    if not text:
        raise _refuse(f"Indiquez un {what}.")
    if any(ch.isspace() for ch in text):
        raise _refuse(f"« {value} » contient des espaces : un {what} n'en contient pas.")
    if "." not in text:
        raise _refuse(
            f"« {value} » n'est pas un {what} complet : il faut au moins un point (exemple.fr)."
        )
    labels = text.split(".")
    ascii_labels = []
    for label in labels:
        if not label:
            raise _refuse(f"« {value} » contient deux points de suite : un {what} n'en a pas.")
        if label.isascii():
            ascii_label = label.lower()
        else:
            try:
                ascii_label = idna.encode(label, uts46=True).decode("ascii")
            except idna.IDNAError as exc:
                raise _refuse(
                    f"« {label} » ne peut pas figurer dans un {what} (caractères non admis)."
                ) from exc
        if len(ascii_label) > 63:
            raise _refuse(
                f"« {label[:20]}… » compte {len(ascii_label)} caractères : chaque partie d'un "
                f"{what} en compte au plus 63."
            )
        if not _LABEL.match(ascii_label):
            raise _refuse(
                f"« {label} » ne peut pas figurer dans un {what} : lettres, chiffres et tirets "
                "seulement, sans tiret au début ni à la fin."
            )
        ascii_labels.append(ascii_label)
    result = ".".join(ascii_labels)
    if len(result) > 253:
        raise _refuse(
            f"Ce {what} compte {len(result)} caractères : un {what} en compte au plus 253."
        )
    tld = ascii_labels[-1]
    if tld.isdigit():
        raise _refuse(
            f"« {value} » se termine par un nombre : ce n'est pas un {what}. S'il s'agit d'une "
            "adresse IP, choisissez le type « Adresse IPv4 »."
        )
    if "_" in tld:
        raise _refuse(f"« {tld} » n'est pas une extension de {what} valide.")
    return result


def _host(host: str, value: str) -> str:
    """The host of a URL or an e-mail: a domain or an IP address."""
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1]
        try:
            return f"[{ipaddress.IPv6Address(inner).compressed}]"
        except ValueError as exc:
            raise _refuse(
                f"« {inner} » n'est pas une adresse IPv6 valide dans « {value} »."
            ) from exc
    if _looks_ipv4(host):
        return str(ipaddress.IPv4Address(host))
    if re.fullmatch(r"[0-9.]+", host):
        raise _refuse(f"« {host} » n'est pas une adresse IPv4 valide dans « {value} ».")
    return _domain(host, what="nom de domaine de l'adresse")


def _url(value: str) -> str:
    if any(ch.isspace() for ch in value):
        raise _refuse(
            "Une URL ne contient pas d'espaces : encodez-les (%20) ou collez une URL par ligne."
        )
    if "://" not in value:
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        if scheme and scheme not in URL_SCHEMES and not scheme.isdigit() and "." not in scheme:
            raise _refuse(
                f"Seules les URL http, https et ftp sont acceptées (« {scheme}: » n'en est pas "
                "une)."
            )
        raise _refuse(
            f"« {value} » n'a pas de protocole : écrivez l'URL complète (http://, https:// ou "
            "ftp://), ou choisissez le type « Nom de domaine »."
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"« {value} » n'est pas une URL valide (adresse ou port illisible).") from exc
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES:
        raise _refuse(
            f"Seules les URL http, https et ftp sont acceptées (« {scheme}:// » n'en est pas une)."
        )
    hostname = parts.hostname or ""
    if not hostname:
        raise _refuse(f"« {value} » n'indique pas de machine après « {scheme}:// ».")
    if "[" in (parts.netloc or ""):
        hostname = f"[{hostname}]"
    host = _host(hostname, value)
    netloc = host if port is None else f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += f":{parts.password}"
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def _email(value: str) -> str:
    if value.lower().startswith("mailto:"):
        value = value[7:]
    if value.count("@") != 1:
        raise _refuse(
            f"« {value} » n'est pas une adresse e-mail : il faut exactement un « @ » "
            "(nom@exemple.fr)."
        )
    local, domain = value.rsplit("@", 1)
    if not local:
        raise _refuse(f"« {value} » n'a rien avant le « @ ».")
    host = _domain(domain, what="domaine de l'adresse e-mail")
    address = f"{local}@{host}"
    try:
        validate_email(address)
    except ValidationError as exc:
        raise _refuse(
            f"« {value} » n'est pas une adresse e-mail valide (caractères non admis avant "
            "le « @ »)."
        ) from exc
    return address


def _hash(value: str, kind: str) -> str:
    text = value.strip().lower()
    wanted = HASH_LENGTHS[kind]
    label = kind_label(kind)
    bad = next((ch for ch in text if ch not in HEX), None)
    if bad is not None:
        shown = "une espace" if bad.isspace() else f"« {bad} »"
        raise _refuse(
            f"Une empreinte {label} ne contient que des chiffres et les lettres a à f : "
            f"{shown} n'en fait pas partie."
        )
    if len(text) != wanted:
        other = HASH_BY_LENGTH.get(len(text))
        hint = f" : c'est une empreinte {kind_label(other)} ?" if other else "."
        raise _refuse(
            f"Une empreinte {label} compte {wanted} caractères hexadécimaux ; celle-ci en a "
            f"{len(text)}{hint}",
            code="wrong_length",
        )
    return text


def _filename(value: str) -> str:
    text = value.strip()
    if not text:
        raise _refuse("Indiquez un nom de fichier.")
    if "/" in text or "\\" in text:
        name = re.split(r"[\\/]", text)[-1]
        raise _refuse(
            f"Indiquez le nom du fichier seul, sans son chemin (« {name} ») ; le chemin peut "
            "aller dans le contexte."
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise _refuse("Un nom de fichier ne contient pas de caractères de contrôle.")
    if len(text) > 255:
        raise _refuse(f"Ce nom de fichier compte {len(text)} caractères : 255 au plus.")
    return text


_NORMALISERS = {
    K.IPV4: _ipv4,
    K.IPV6: _ipv6,
    K.DOMAIN: _domain,
    K.URL: _url,
    K.EMAIL: _email,
    K.FILENAME: _filename,
}


def normalise(kind: str, raw: str) -> str:
    """The stored form of `raw` as an indicator of `kind`, or a DomainError saying why not."""
    if kind not in IndicatorKind.values:
        raise DomainError(
            "Choisissez le type de l'indicateur dans la liste.", code="invalid_kind", field="kind"
        )
    text = str(raw or "").strip()
    if not text:
        raise _refuse("Indiquez la valeur de l'indicateur.", code="required")
    if len(text) > VALUE_MAX_LENGTH:
        raise _refuse(
            f"Cette valeur compte {len(text)} caractères : {VALUE_MAX_LENGTH} au plus.",
            code="too_long",
        )
    if kind != K.FILENAME:
        text = refang(text)
    if kind in HASH_LENGTHS:
        return _hash(text, kind)
    return _NORMALISERS[IndicatorKind(kind)](text)


def detect_kind(raw: str) -> str | None:
    """The kind a pasted value most likely is (None: cannot tell)."""
    text = refang(str(raw or "").strip())
    if not text:
        return None
    lowered = text.lower()
    if "://" in text or lowered.startswith("mailto:"):
        return K.EMAIL if lowered.startswith("mailto:") else K.URL
    if "@" in text and " " not in text and "/" not in text:
        return K.EMAIL
    if _looks_ipv4(text):
        return K.IPV4
    if ":" in text and _looks_ipv6(text):
        return K.IPV6
    if re.fullmatch(r"\d{1,3}(\.\d+){3}", text):
        return K.IPV4  # a malformed IPv4 (999.1.1.1): refused with its reason
    if all(ch in HEX for ch in text):
        if len(text) in HASH_BY_LENGTH:
            return HASH_BY_LENGTH[len(text)]
        if len(text) >= 24:
            return K.SHA256  # a hash of a wrong length: refused with its length
    if "\\" in text or "/" in text:
        return K.FILENAME  # a path: refused with the name alone as the hint
    if "." in text and " " not in text:
        last = text.rsplit(".", 1)[-1].lower()
        return K.FILENAME if last in FILE_EXTENSIONS else K.DOMAIN
    return None


# --- Reads ----------------------------------------------------------------------------------------


def indicators_of(case: Case) -> QuerySet[Indicator]:
    return case.indicators.select_related("created_by").order_by("kind", "value", "pk")


def get_indicator(case: Case, pk) -> Indicator:
    """An indicator of this case (404 for any other id)."""
    try:
        return indicators_of(case).get(pk=int(pk))
    except (Indicator.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("Indicateur introuvable dans ce dossier.") from exc


# --- Writes ---------------------------------------------------------------------------------------


def _require_contribute(actor, case: Case) -> None:
    if not perms.can_contribute(actor, case):
        raise DomainError(
            "Votre accès à ce dossier ne permet pas d'y ajouter ou d'en retirer des indicateurs.",
            code="forbidden",
        )
    if case.state == CaseState.CLOSED:
        raise DomainError(
            "Le dossier est clos : rouvrez-le (changement d'état, avec une note) pour en modifier "
            "les indicateurs.",
            code="case_closed",
        )


def _tlp(tlp) -> str:
    value = str(tlp or "").strip().lower()
    if value.startswith("tlp:"):
        value = value[4:]
    value = value.replace("+", "_")
    if value not in Tlp.values:
        raise DomainError(
            "Choisissez le niveau de diffusion TLP : CLEAR, GREEN, AMBER, AMBER+STRICT ou RED.",
            code="invalid_tlp",
            field="tlp",
        )
    return value


def _description(description) -> str:
    text = str(description or "").strip()
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise DomainError(
            f"Le contexte ne doit pas dépasser {DESCRIPTION_MAX_LENGTH} caractères.",
            code="invalid",
            field="description",
        )
    return text


def _first_seen(first_seen) -> datetime.datetime | None:
    if first_seen in (None, ""):
        return None
    if not isinstance(first_seen, datetime.datetime):
        raise DomainError(
            "La date de première observation est illisible : jj/mm/aaaa hh:mm.",
            code="invalid",
            field="first_seen",
        )
    if timezone.is_naive(first_seen):
        first_seen = timezone.make_aware(first_seen)
    if first_seen > timezone.now() + CLOCK_SKEW:
        raise DomainError(
            "La date de première observation est dans le futur : un indicateur est vu avant "
            "d'être noté.",
            code="in_future",
            field="first_seen",
        )
    return first_seen


def _in_timeline(case: Case, kind: str, value: str, tlp: str) -> str:
    """How the timeline names an indicator: the timeline (its CSV export, the case report) is
    marked with the case's TLP, so a value more restricted than the case stays out of it."""
    if allows(Tlp(case.tlp), tlp):
        return f"{kind_label(kind)} {value}"
    return f"{kind_label(kind)} (valeur {Tlp(tlp).label}, plus restreinte que le dossier)"


def _duplicate_message(existing: Indicator) -> str:
    when = timezone.localtime(existing.created_at).strftime("%d/%m/%Y à %H:%M")
    return (
        f"Cet indicateur ({existing.get_kind_display()} {existing.value}) figure déjà dans le "
        f"dossier, ajouté le {when} : inutile de l'ajouter à nouveau."
    )


def _create(
    *, actor, case: Case, kind: str, value: str, tlp: str, description: str, first_seen
) -> Indicator:
    """Insert one normalised indicator (caller holds a transaction)."""
    existing = case.indicators.filter(kind=kind, value=value).first()
    if existing is not None:
        raise DomainError(_duplicate_message(existing), code="duplicate", field="value")
    try:
        with transaction.atomic():
            return Indicator.objects.create(
                case=case,
                kind=kind,
                value=value,
                tlp=tlp,
                description=description,
                first_seen=first_seen,
                created_by=actor,
                created_at=timezone.now(),
            )
    except IntegrityError as exc:
        raise DomainError(
            f"Cet indicateur ({kind_label(kind)} {value}) vient d'être ajouté au dossier par "
            "quelqu'un d'autre.",
            code="duplicate",
            field="value",
        ) from exc


def indicator_add(
    *,
    actor,
    case: Case,
    kind: str,
    value: str,
    tlp: str,
    description: str = "",
    first_seen: datetime.datetime | None = None,
) -> Indicator:
    """Add one indicator, normalised, once per case; a timeline line records it."""
    _require_contribute(actor, case)
    normalised = normalise(kind, value)
    level = _tlp(tlp)
    text = _description(description)
    seen = _first_seen(first_seen)
    with transaction.atomic():
        indicator = _create(
            actor=actor,
            case=case,
            kind=kind,
            value=normalised,
            tlp=level,
            description=text,
            first_seen=seen,
        )
        timeline.add_event(
            case,
            EventKind.INDICATOR,
            actor,
            f"Indicateur ajouté : {_in_timeline(case, kind, normalised, level)} "
            f"({Tlp(level).label}).",
        )
    return indicator


@dataclass
class BulkLine:
    number: int
    raw: str
    kind: str = ""
    value: str = ""
    indicator: Indicator | None = None
    reason: str = ""
    code: str = ""

    @property
    def added(self) -> bool:
        return self.indicator is not None

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind) if self.kind else ""


@dataclass
class BulkResult:
    lines: list[BulkLine] = field(default_factory=list)

    @property
    def added(self) -> list[BulkLine]:
        return [line for line in self.lines if line.added]

    @property
    def refused(self) -> list[BulkLine]:
        return [line for line in self.lines if not line.added]

    @property
    def refused_text(self) -> str:
        """The refused lines as pasted, to correct and paste again."""
        return "\n".join(line.raw for line in self.refused)


def indicators_bulk_add(
    *,
    actor,
    case: Case,
    text: str,
    tlp: str,
    kind: str = "",
    description: str = "",
    first_seen: datetime.datetime | None = None,
) -> BulkResult:
    """Add one indicator per pasted line, its kind chosen or guessed per line. Each valid line
    is saved even when others are refused; the result says, line by line, what happened.
    Blank lines and lines starting with « # » are skipped."""
    _require_contribute(actor, case)
    level = _tlp(tlp)
    context = _description(description)
    seen = _first_seen(first_seen)
    if kind and kind not in IndicatorKind.values:
        raise DomainError(
            "Choisissez le type des indicateurs dans la liste, ou « Détecter ».",
            code="invalid_kind",
            field="kind",
        )
    lines = [
        (number, raw.strip())
        for number, raw in enumerate(str(text or "").splitlines(), start=1)
        if raw.strip() and not raw.strip().startswith("#")
    ]
    if not lines:
        raise DomainError(
            "Collez au moins un indicateur (un par ligne).", code="required", field="text"
        )
    result = BulkResult()
    seen_in_paste: dict[tuple[str, str], int] = {}
    with transaction.atomic():
        for position, (number, raw) in enumerate(lines):
            line = BulkLine(number=number, raw=raw)
            result.lines.append(line)
            if position >= BULK_MAX_LINES:
                line.reason = (
                    f"Au-delà de {BULK_MAX_LINES} lignes : collez la suite en une autre fois."
                )
                line.code = "too_many_lines"
                continue
            line.kind = kind or (detect_kind(raw) or "")
            if not line.kind:
                line.reason = (
                    "Type non reconnu : choisissez le type de cette valeur et ajoutez-la seule."
                )
                line.code = "unknown_kind"
                continue
            try:
                line.value = normalise(line.kind, raw)
                key = (line.kind, line.value)
                if key in seen_in_paste:
                    raise DomainError(
                        f"Déjà collé ligne {seen_in_paste[key]}.", code="duplicate", field="value"
                    )
                seen_in_paste[key] = number
                line.indicator = _create(
                    actor=actor,
                    case=case,
                    kind=line.kind,
                    value=line.value,
                    tlp=level,
                    description=context,
                    first_seen=seen,
                )
            except DomainError as exc:
                line.reason = exc.message
                line.code = exc.code
        added = result.added
        if added:
            shown = ", ".join(
                _in_timeline(case, line.kind, line.value, level) for line in added[:10]
            )
            more = f" et {len(added) - 10} autres" if len(added) > 10 else ""
            plural = "s" if len(added) > 1 else ""
            timeline.add_event(
                case,
                EventKind.INDICATOR,
                actor,
                f"{len(added)} indicateur{plural} ajouté{plural} ({Tlp(level).label}) : "
                f"{shown}{more}.",
            )
    return result


def indicator_remove(*, actor, case: Case, indicator: Indicator) -> None:
    """Remove an indicator entered by mistake; the timeline keeps the trace."""
    _require_contribute(actor, case)
    if indicator.case_id != case.pk:
        raise Http404("Indicateur introuvable dans ce dossier.")
    with transaction.atomic():
        deleted, _ = Indicator.objects.filter(pk=indicator.pk, case=case).delete()
        if not deleted:
            raise DomainError(
                "Cet indicateur a déjà été retiré du dossier.", code="stale", field=None
            )
        timeline.add_event(
            case,
            EventKind.INDICATOR,
            actor,
            "Indicateur retiré : "
            f"{_in_timeline(case, indicator.kind, indicator.value, indicator.tlp)}.",
        )
