"""The port list and the TLS texts are valid data, and broken files fail loudly."""

from __future__ import annotations

import pytest

from rempart.exposure.ports import (
    CATEGORIES,
    ReferenceDataError,
    default_port_list,
    parse_ports,
    parse_tls_checks,
    port_info,
    watched_ports,
)

EXPECTED = {
    3389: ("remote_admin", "critical"),
    445: ("file_sharing", "critical"),
    139: ("file_sharing", "critical"),
    23: ("remote_admin", "critical"),
    5900: ("remote_admin", "critical"),
    5901: ("remote_admin", "critical"),
    21: ("file_sharing", "high"),
    22: ("remote_admin", "medium"),
    1433: ("database", "critical"),
    3306: ("database", "critical"),
    5432: ("database", "critical"),
    1521: ("database", "critical"),
    27017: ("database", "critical"),
    6379: ("database", "critical"),
    9200: ("database", "critical"),
    389: ("directory", "critical"),
    636: ("directory", "critical"),
    3268: ("directory", "critical"),
    3269: ("directory", "critical"),
    104: ("medical", "critical"),
    11112: ("medical", "critical"),
    2575: ("medical", "critical"),
    80: ("web", "low"),
    443: ("web", "info"),
    8080: ("web", "medium"),
    8443: ("web", "medium"),
    4500: ("vpn", "low"),
    1194: ("vpn", "low"),
    10443: ("vpn", "medium"),
    25: ("mail", "info"),
    465: ("mail", "info"),
    587: ("mail", "info"),
    993: ("mail", "low"),
}


def test_the_shipped_file_is_valid_and_covers_the_issue_ports():
    ports = watched_ports()
    for port, (category, severity) in EXPECTED.items():
        assert (ports[port].category, ports[port].severity) == (category, severity), port
    assert {info.category for info in ports.values()} == set(CATEGORIES)
    assert port_info(3389).label == "Bureau à distance Microsoft (RDP)"
    assert "rançongiciels" in port_info(3389).explanation
    assert "\n" not in port_info(3389).explanation
    assert port_info(443).tls
    assert port_info(8443).tls
    assert not port_info(80).tls
    assert port_info(12345) is None
    assert default_port_list() == sorted(ports)
    assert 161 not in ports  # SNMP is UDP: a TCP scan cannot see it


SERVICE = """
  - service: {service}
    label: Service
    category: {category}
    severity: high
    ports: {ports}
    probe: none
    explanation: Une explication assez longue pour le schéma.
    remediation: Une remédiation assez longue pour le schéma.
"""


def document(*services: str) -> str:
    return "version: 1\nservices:" + "".join(services)


def test_a_port_described_twice_is_refused():
    text = document(
        SERVICE.format(service="rdp", category="remote_admin", ports="[3389]"),
        SERVICE.format(service="rdp_bis", category="remote_admin", ports="[3389, 3390]"),
    )
    with pytest.raises(ReferenceDataError) as caught:
        parse_ports(text)
    assert caught.value.errors == ["le port 3389 est décrit deux fois (« rdp » et « rdp_bis »)"]


def test_schema_problems_are_all_listed():
    text = document(
        SERVICE.format(service="x", category="printers", ports="[0]"),
    )
    with pytest.raises(ReferenceDataError) as caught:
        parse_ports(text)
    joined = "\n".join(caught.value.errors)
    assert "services/0/category" in joined
    assert "services/0/ports/0" in joined
    assert "services/0/service" in joined  # one letter is too short


def test_unreadable_yaml_is_refused():
    with pytest.raises(ReferenceDataError, match="YAML illisible"):
        parse_ports("version: [1\n")


def test_tls_checks_duplicates_are_refused():
    entry = """
  - code: tls_expired
    severity: high
    title: Expiré
    explanation: Une explication assez longue pour le schéma.
    remediation: Une remédiation assez longue pour le schéma.
"""
    with pytest.raises(ReferenceDataError, match="décrit plusieurs fois"):
        parse_tls_checks("version: 1\nchecks:" + entry + entry)
