"""The nmap command builder and the XML parser, on stored XML (nmap itself is not needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.exposure import nmap
from rempart.exposure.nmap import (
    NmapError,
    NmapOptions,
    build_command,
    parse_xml,
    script_expression,
)
from rempart.exposure.scanner import ScanError

DATA = Path(__file__).parent / "data"


def test_parse_version_detection_with_safe_scripts():
    result = parse_xml((DATA / "nmap_sv_safe_scripts.xml").read_bytes())
    assert result.scanner == "nmap"
    assert result.elapsed == pytest.approx(50.12)
    assert result.started_at.year == 2026
    assert set(result.hosts) == {"192.0.2.10", "192.0.2.11", "192.0.2.14"}
    assert result.open_set() == {
        ("192.0.2.10", 22),
        ("192.0.2.10", 80),
        ("192.0.2.10", 443),
        ("192.0.2.11", 3389),
        ("192.0.2.11", 5432),
    }
    portal = result.hosts["192.0.2.10"]
    assert portal.hostnames == ["portail.ch-exemple.test"]
    assert portal.srtt == pytest.approx(0.04125)
    ssh = portal.ports[22]
    assert (ssh.service, ssh.product, ssh.version, ssh.extra_info) == (
        "ssh",
        "OpenSSH",
        "7.4",
        "protocol 2.0",
    )
    assert ssh.cpe == ["cpe:/a:openbsd:openssh:7.4"]
    assert "2048" in ssh.scripts["ssh-hostkey"]
    https = portal.ports[443]
    assert https.tunnel == "ssl"
    assert https.scripts["ssl-cert"].startswith("Subject: commonName=portail.ch-exemple.test")
    assert 3389 not in portal.ports  # filtered
    assert 5432 not in portal.ports  # closed
    rdp = result.hosts["192.0.2.11"].ports[3389]
    assert rdp.product == "Microsoft Terminal Services"
    assert "SRV-RDS01" in rdp.scripts["rdp-ntlm-info"]
    silent = result.hosts["192.0.2.14"]
    assert silent.ports == {}
    assert silent.srtt is None
    assert result.probes_planned == 15


def test_parse_connect_scan_with_a_host_down():
    result = parse_xml((DATA / "nmap_connect_host_down.xml").read_text())
    assert result.hosts["198.51.100.7"].open_ports == [21, 23, 445, 3389]
    assert result.hosts["198.51.100.7"].ports[445].service == "microsoft-ds"
    assert result.hosts["198.51.100.8"].unreachable == "no-response"
    assert result.hosts["198.51.100.8"].ports == {}
    assert result.probes_planned == 1025 * 2
    assert result.elapsed == pytest.approx(6.03)


def test_entity_expansion_is_refused():
    with pytest.raises(NmapError, match="construction XML dangereuse"):
        parse_xml((DATA / "nmap_entity_bomb.xml").read_bytes())


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"<nmaprun><host>", "illisible"), (b"<html></html>", "élément racine")],
)
def test_broken_output_is_refused(data, message):
    with pytest.raises(NmapError, match=message):
        parse_xml(data)


def test_command_is_a_safe_argument_list():
    command = build_command(
        ["192.0.2.10", "192.0.2.11"],
        [443, 22, 22, 3389],
        NmapOptions(scripts=("default", "ssl-cert"), max_rate=200),
        binary="/usr/bin/nmap",
    )
    assert command[:5] == ["/usr/bin/nmap", "-sT", "-sV", "-Pn", "-n"]
    assert command[command.index("-p") + 1] == "22,443,3389"  # only the given ports
    assert command[command.index("--max-rate") + 1] == "200"
    expression = command[command.index("--script") + 1]
    assert expression.startswith("(default or ssl-cert) and safe and not (")
    for category in ("intrusive", "brute", "dos", "exploit", "vuln", "external"):
        assert category in expression.split("and not", 1)[1]
    assert command[-5:] == ["-oX", "-", "--", "192.0.2.10", "192.0.2.11"]


def test_plain_connect_scan_without_scripts():
    command = build_command(["192.0.2.10"], [80], NmapOptions(version_detection=False))
    assert "-sV" not in command
    assert "--script" not in command
    assert "-sT" in command
    assert "-T4" in command


@pytest.mark.parametrize("category", ["intrusive", "brute", "dos", "exploit", "vuln", "external"])
def test_forbidden_script_categories_are_refused(category):
    with pytest.raises(ScanError, match="interdite"):
        script_expression(["safe", category])


@pytest.mark.parametrize("selector", ["all", "safe or intrusive", "http-*", "../x", "-oN"])
def test_script_selectors_are_names_or_allowed_categories_only(selector):
    with pytest.raises(ScanError):
        script_expression([selector])


@pytest.mark.parametrize("target", ["-oN/tmp/x", "--script=brute", "ch-exemple.fr", "192.0.2.0/24"])
def test_targets_are_ip_addresses_only(target):
    with pytest.raises(ScanError):
        build_command([target], [80])


def test_mixed_ip_versions_are_refused():
    with pytest.raises(ScanError, match="IPv4 et IPv6"):
        build_command(["192.0.2.10", "2001:db8::10"], [80])
    assert "-6" in build_command(["2001:db8::10"], [80])


def test_missing_nmap_is_said(monkeypatch):
    monkeypatch.setattr(nmap.shutil, "which", lambda name: None)
    with pytest.raises(NmapError, match="pas installé"):
        nmap.run(["192.0.2.10"], [80])
