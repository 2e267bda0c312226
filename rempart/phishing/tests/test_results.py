"""Results of simulated-phishing campaigns: the cumulative funnel (raw and without bots), small
groups never shown alone (not even by subtraction), the timeline, the regional comparison, who
sees the per-recipient rows, pagination and filters, exports, and a query count that does not
grow with the campaign."""

import csv
import datetime
import io
import itertools
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, member
from rempart.phishing import results
from rempart.phishing.models import CampaignStatus, MandateVisibility

from .factories import event, mandate, phishing_world, sent_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return phishing_world()


def as_(client, user):
    client.force_login(user)
    return client


def url(campaign, name="phishing:campaign_results"):
    return reverse(name, args=[campaign.pk])


# --- The funnel -----------------------------------------------------------------------------------


def test_funnel_is_cumulative_distinct_and_filters_bots(world):
    campaign, people = sent_campaign(world, {"Urgences": 10})
    a, b, c, d, e, f = people[:6]
    event(a, "opened")
    event(a, "opened", after=datetime.timedelta(hours=1))  # twice: one person
    event(b, "clicked")  # pixel blocked: a click counts as opened
    event(c, "opened")
    event(c, "clicked")
    event(c, "submitted")
    event(d, "clicked", bot=True, after=datetime.timedelta(seconds=2))  # a scanner
    event(e, "opened", bot=True)
    event(e, "reported", after=datetime.timedelta(minutes=30))  # reported without clicking
    event(f, "clicked")
    event(f, "reported", after=datetime.timedelta(minutes=20))
    figures = results.campaign_results(campaign)
    raw, human = figures.raw, figures.filtered
    assert (raw.recipients, raw.sent) == (10, 10)
    assert (raw.opened, raw.clicked, raw.submitted) == (6, 4, 1)
    assert (human.opened, human.clicked, human.submitted) == (4, 3, 1)
    assert (raw.reported, raw.reported_without_click) == (2, 1)
    assert (human.reported, human.reported_without_click) == (2, 1)
    assert raw.clicked_rate == 40
    assert human.clicked_rate == 30
    assert figures.time_to_first_report == datetime.timedelta(minutes=20)
    assert figures.time_to_first_report_label == "20 min"
    # A bot's click followed by the person's report: reported without (a human) click.
    g = people[6]
    event(g, "clicked", bot=True)
    event(g, "reported")
    figures = results.campaign_results(campaign)
    assert figures.raw.reported_without_click == 1
    assert figures.filtered.reported_without_click == 2


def test_unsent_recipients_are_not_in_the_steps(world):
    campaign, people = sent_campaign(world, {"Urgences": 6})
    people[0].send_status, people[0].sent_at = "failed", None
    people[0].save()
    figures = results.campaign_results(campaign)
    assert (figures.raw.recipients, figures.raw.sent) == (6, 5)


# --- Small groups ---------------------------------------------------------------------------------


def _rows(sizes: dict[str, int]) -> list[results.Row]:
    return [
        results.Row(key, key, results.Funnel(recipients=n, sent=n), results.Funnel(n, n))
        for key, n in sizes.items()
    ]


def _protect(sizes):
    return results.protect_small_groups(
        _rows(sizes), size=lambda r: r.size, others_key="o", others_label="Autres"
    )


def test_small_groups_are_merged():
    visible, others, topped_up = _protect({"A": 12, "B": 5, "C": 2, "D": 3})
    assert [r.key for r in visible] == ["A", "B"]
    assert sorted(others.members) == ["C", "D"]
    assert others.size == 5
    assert not topped_up


def test_a_merged_line_below_the_threshold_takes_the_smallest_visible_line():
    # Alone, « Autres » would hold the 3 people of C: total − A − B would give them away.
    visible, others, topped_up = _protect({"A": 12, "B": 6, "C": 3})
    assert [r.key for r in visible] == ["A"]
    assert sorted(others.members) == ["B", "C"]
    assert others.size == 9
    assert topped_up


def test_everything_below_the_threshold_shows_nothing():
    assert _protect({"A": 2, "B": 2}) == ([], None, False)


def test_no_small_group_can_be_recovered_from_any_configuration():
    """Every line shown (the merged one too) holds at least 5 people, and the lines add up to
    the total: no subtraction of shown figures isolates fewer than 5 people."""
    rng = random.Random(6)
    for _ in range(500):
        sizes = {f"S{i}": rng.choice([1, 2, 3, 4, 5, 6, 7, 12]) for i in range(rng.randint(1, 7))}
        visible, others, _topped = _protect(sizes)
        lines = visible + ([others] if others else [])
        total = sum(sizes.values())
        if total < 5:
            assert lines == []
            continue
        assert all(line.size >= 5 for line in lines), sizes
        assert sum(line.size for line in lines) == total
        # Any union of shown lines, and its complement, is ≥ 5 or empty.
        for count in range(1, len(lines) + 1):
            for chosen in itertools.combinations(lines, count):
                rest = total - sum(line.size for line in chosen)
                assert rest == 0 or rest >= 5, sizes


def test_page_never_names_a_small_department(client, world):
    campaign, people = sent_campaign(
        world, {"Urgences": 8, "Pharmacie": 6, "Direction": 2, "Cuisine": 1}
    )
    event(people[-1], "clicked")  # the one person of Cuisine clicked
    page = as_(client, world.rssi).get(url(campaign)).content.decode()
    assert "Urgences" in page
    assert "Pharmacie" in page
    # The rows of the recipients table (pseudonymous) name departments; the figures must not:
    figures_part = page.split('id="destinataires"')[0]
    assert "Direction" not in figures_part
    assert "Cuisine" not in figures_part
    assert "Autres services (moins de 5 personnes)" in figures_part
    assert "regroupés" in figures_part
    figures = results.campaign_results(campaign)
    assert figures.others.size == 9  # 3 people + Pharmacie (6) added: never 3 alone
    assert [r.key for r in figures.departments] == ["Urgences"]


def test_tiny_campaign_hides_the_departments(client, world):
    campaign, _people = sent_campaign(world, {"Urgences": 3})
    page = as_(client, world.rssi).get(url(campaign)).content.decode()
    assert "Le détail par service n&#x27;est pas montré" in page or "pas montré" in page


# --- Who sees what --------------------------------------------------------------------------------


def test_outsiders_get_a_404_for_every_results_url(client, world):
    campaign, _people = sent_campaign(world, {"Urgences": 6})
    names = [
        "phishing:campaign_results",
        "phishing:campaign_results_csv",
        "phishing:campaign_results_xlsx",
        "phishing:campaign_recipients_csv",
    ]
    for user in (world.staff, world.ars_manager, world.outsider_rssi, world.outsider_crrc):
        for name in names:
            assert as_(client, user).get(url(campaign, name)).status_code == 404, (user, name)
    # Without a mandate, the region's CRRC does not see an autonomous campaign either.
    assert as_(client, world.crrc_operator).get(url(campaign)).status_code == 404
    assert (
        as_(client, world.rssi).get(reverse("phishing:campaign_results", args=[999999])).status_code
        == 404
    )


def test_establishment_sees_rows_in_pseudonymous_mode(client, world):
    campaign, people = sent_campaign(world, {"Urgences": 6})
    event(people[0], "clicked")
    for user in (world.rssi, world.director, world.dsi):
        page = as_(client, user).get(url(campaign)).content.decode()
        assert "Prénom0 Urgences0" in page
        assert "urgences0@exemple.fr" in page
    assert (
        as_(client, world.rssi).get(url(campaign, "phishing:campaign_recipients_csv")).status_code
        == 200
    )


def _no_rows(client, user, campaign):
    page = client.get(url(campaign)).content.decode()
    assert client.get(url(campaign)).status_code == 200
    assert "urgences0@exemple.fr" not in page
    assert "Urgences0" not in page
    response = client.get(url(campaign, "phishing:campaign_recipients_csv"))
    assert response.status_code == 403
    assert "pas le détail par destinataire" in response.content.decode()
    partial = client.get(url(campaign), headers={"HX-Request": "true"})
    assert partial.status_code == 403
    book = load_workbook(
        io.BytesIO(client.get(url(campaign, "phishing:campaign_results_xlsx")).content)
    )
    assert book.sheetnames == ["Résultats"]


def test_anonymous_mode_and_erased_identities_show_departments_only(client, world):
    anonymous, _people = sent_campaign(world, {"Urgences": 6}, privacy="anonymous", name="Anonyme")
    as_(client, world.rssi)
    _no_rows(client, world.rssi, anonymous)
    assert "seuls les services sont conservés" in client.get(url(anonymous)).content.decode()
    erased, _people = sent_campaign(world, {"Urgences": 6}, name="Effacée")
    erased.identities_erased_at = timezone.now()
    erased.save()
    _no_rows(client, world.rssi, erased)


def test_crrc_sees_rows_only_under_a_pseudonymous_mandate(client, world):
    aggregates = mandate(world)
    campaign, _people = sent_campaign(world, {"Urgences": 6}, delegated_under=aggregates)
    as_(client, world.crrc_operator)
    _no_rows(client, world.crrc_operator, campaign)
    # The establishment still sees its rows.
    assert "urgences0@exemple.fr" in as_(client, world.rssi).get(url(campaign)).content.decode()
    rows = mandate(world, visibility=MandateVisibility.PSEUDONYMOUS)
    delegated, _people = sent_campaign(world, {"Urgences": 6}, delegated_under=rows, name="Pseudo")
    page = as_(client, world.crrc_operator).get(url(delegated)).content.decode()
    assert "urgences0@exemple.fr" in page
    # Revoked mandate: aggregates only.
    rows.revoked_at, rows.revoked_by = timezone.now(), world.rssi
    rows.save()
    as_(client, world.crrc_operator)
    _no_rows(client, world.crrc_operator, delegated)


def test_draft_campaign_has_no_results_yet(client, world):
    campaign, _people = sent_campaign(world, {}, status=CampaignStatus.DRAFT)
    page = as_(client, world.rssi).get(url(campaign)).content.decode()
    assert "Pas encore de résultats" in page


# --- Per-recipient table --------------------------------------------------------------------------


def test_pagination_and_htmx_partial(client, world):
    campaign, _people = sent_campaign(world, {"Urgences": 60, "Pharmacie": 10})
    as_(client, world.rssi)
    page = client.get(url(campaign)).content.decode()
    assert "Page 1 sur 2" in page
    assert 'id="results-recipients"' in page
    partial = client.get(url(campaign) + "?page=2", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    text = partial.content.decode()
    # The same include as the full page: the partial is the table of the page, verbatim.
    full = client.get(url(campaign) + "?page=2").content.decode()
    assert text.strip() in full
    assert "<html" not in text
    assert "Page 2 sur 2" in text
    assert text.count("@exemple.fr") == 20  # 70 people, 50 on page 1


def test_filters_by_department_and_status(client, world):
    campaign, people = sent_campaign(world, {"Urgences": 8, "Pharmacie": 6, "Cuisine": 2})
    urgences = [p for p in people if p.department == "Urgences"]
    event(urgences[0], "clicked")
    event(urgences[1], "clicked", bot=True)
    event(urgences[2], "reported")
    as_(client, world.rssi)

    def emails(query):
        response = client.get(url(campaign) + query, headers={"HX-Request": "true"})
        assert response.status_code == 200, response.content
        return sorted(
            set(__import__("re").findall(r"([a-z]+\d+)@exemple\.fr", response.content.decode()))
        )

    assert emails("?service=Urgences&statut=clicked") == ["urgences0"]
    assert emails("?statut=bot") == ["urgences1"]
    assert emails("?statut=reported_without_click") == ["urgences2"]
    assert emails("?service=__autres__&statut=clicked") == []
    # People without a department: a choice of their own (not « all »).
    blank, blank_people = sent_campaign(world, {"": 5, "Urgences": 5}, name="Sans service")
    event(blank_people[0], "clicked")
    response = client.get(url(blank) + "?service=__aucun__", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode().count("@exemple.fr") == 5
    assert "Service non renseigné" in client.get(url(blank)).content.decode()
    # The merged line filters its members (Cuisine, topped up with Pharmacie), never Cuisine alone.
    merged = emails("?service=__autres__")
    assert "cuisine0" in merged
    assert "pharmacie0" in merged
    refused = client.get(url(campaign) + "?service=Cuisine", headers={"HX-Request": "true"})
    assert refused.status_code == 400
    assert "Choisissez un service de la liste." in refused.content.decode()
    bad = client.get(url(campaign) + "?statut=nimportequoi&page=abc")
    assert bad.status_code == 400
    assert "Choisissez un résultat de la liste." in bad.content.decode()


# --- Exports ------------------------------------------------------------------------------------


def test_exports_are_formula_safe_and_complete(client, world):
    campaign, people = sent_campaign(world, {'=HYPERLINK("http://x")': 5, "Urgences": 5})
    event(people[0], "clicked")
    event(people[0], "opened", bot=True)
    as_(client, world.rssi)
    figures = b"".join(client.get(url(campaign, "phishing:campaign_results_csv")).streaming_content)
    text = figures.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Rubrique", "Indicateur", "Valeur brute", "Valeur hors robots", "Unité"]
    assert ["Entonnoir", "Cliqués", "1", "1", "personnes"] in rows
    assert all(not cell.startswith("=") for row in rows for cell in row)
    assert ['Service : =HYPERLINK("http://x")', "Destinataires", "5", "5", "personnes"] in rows
    people_csv = b"".join(
        client.get(url(campaign, "phishing:campaign_recipients_csv")).streaming_content
    ).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(people_csv), delimiter=";"))
    assert len(lines) == 11
    assert all(not c.startswith("=") for line in lines for c in line)
    book = load_workbook(
        io.BytesIO(client.get(url(campaign, "phishing:campaign_results_xlsx")).content)
    )
    assert book.sheetnames == ["Résultats", "Destinataires"]
    cells = [c for row in book["Destinataires"].iter_rows() for c in row]
    departments = {c.value for c in cells if c.column == 4}
    assert '\'=HYPERLINK("http://x")' in departments
    assert all(c.data_type != "f" for sheet in book for row in sheet.iter_rows() for c in row)
    assert book["Destinataires"].max_row == 11


# --- Timeline, region -----------------------------------------------------------------------------


def test_timeline_is_in_paris_time_with_hours_or_days(world):
    # 22:30 UTC on 1 July = 00:30 in Paris on 2 July.
    start = datetime.datetime(2026, 7, 1, 22, 0, tzinfo=datetime.UTC)
    campaign, people = sent_campaign(world, {"Urgences": 5}, sent_at=start)
    event(people[0], "opened", after=datetime.timedelta(minutes=30))
    event(people[1], "clicked", bot=True, after=datetime.timedelta(hours=3, minutes=5))
    timeline = results.campaign_results(campaign).timeline
    assert timeline.hourly
    assert [b.label for b in timeline.buckets] == [
        "02/07/2026 00h",
        "02/07/2026 01h",
        "02/07/2026 02h",
        "02/07/2026 03h",
    ]
    assert timeline.buckets[0].raw["opened"] == 1
    assert timeline.buckets[3].raw["clicked"] == 1
    assert timeline.buckets[3].filtered["clicked"] == 0
    event(people[2], "reported", after=datetime.timedelta(days=3))
    timeline = results.campaign_results(campaign).timeline
    assert not timeline.hourly
    assert [b.label for b in timeline.buckets] == [
        "02/07/2026",
        "03/07/2026",
        "04/07/2026",
        "05/07/2026",
    ]
    assert [b.raw["reported"] for b in timeline.buckets] == [0, 0, 0, 1]


def _region_campaigns(world, count, *, clicked=1):
    for i in range(count):
        org = OrganisationFactory(
            kind=OrgKind.ESTABLISHMENT, region=world.hospital.region, name=f"CH {i}"
        )
        _campaign, people = sent_campaign(world, {"Tous": 5}, organisation=org, name=f"R{i}")
        for person in people[:clicked]:
            event(person, "clicked")


def test_region_comparison_needs_five_other_organisations(client, world):
    campaign, _people = sent_campaign(world, {"Urgences": 10})
    _region_campaigns(world, 4)
    figures = results.campaign_results(campaign)
    assert not figures.region.available
    assert (figures.region.finished, figures.region.waiting) == (4, 4)
    page = as_(client, world.rssi).get(url(campaign)).content.decode()
    assert "Comparaison indisponible : 4 autres structures" in page
    # Campaigns of other regions, unfinished ones and the establishment's own do not count.
    _c, _p = sent_campaign(world, {"Tous": 5}, organisation=world.other_hospital, name="Loin")
    _c, _p = sent_campaign(world, {"Tous": 5}, name="Encore nous")
    org = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.hospital.region)
    _c, _p = sent_campaign(world, {"Tous": 5}, organisation=org, status="sending", name="En cours")
    assert not results.campaign_results(campaign).region.available
    _region_campaigns(world, 1, clicked=2)
    region = results.campaign_results(campaign).region
    assert region.available
    assert (region.organisations, region.campaigns) == (5, 5)
    assert (region.raw.sent, region.raw.clicked, region.raw.clicked_rate) == (25, 6, 24)


def test_region_comparison_moves_by_whole_cohorts_never_one_organisation(world):
    """Seen before and after one more organisation finishes a campaign, the region's figures
    must not give that organisation's rates away: they change only when a whole cohort of at
    least 5 new organisations is complete."""
    campaign, _people = sent_campaign(world, {"Urgences": 10})
    _region_campaigns(world, 5)
    before = results.campaign_results(campaign).region
    assert (before.organisations, before.raw.clicked) == (5, 5)
    # A sixth organisation finishes with 5 clicks out of 5: nothing moves, it waits.
    _region_campaigns(world, 1, clicked=5)
    after = results.campaign_results(campaign).region
    assert (after.raw.sent, after.raw.clicked, after.organisations) == (25, 5, 5)
    assert (after.waiting, after.finished) == (1, 6)
    # Four more: the cohort of five is complete and joins as a whole.
    _region_campaigns(world, 4)
    joined = results.campaign_results(campaign).region
    assert (joined.organisations, joined.waiting) == (10, 0)
    assert (joined.raw.sent, joined.raw.clicked) == (50, 14)


def test_cohorts_need_five_distinct_organisations():
    same = [(pk, 1) for pk in range(1, 8)]  # seven campaigns of one organisation
    assert results.pooled_cohorts(same) == ([], {1})
    mixed = [(1, 1), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5), (7, 6)]
    assert results.pooled_cohorts(mixed) == ([1, 2, 3, 4, 5, 6], {6})


# --- Regional page --------------------------------------------------------------------------------


def test_regional_page_access(client, world):
    target = reverse("phishing:regional_results")
    for user in (world.rssi, world.staff, world.outsider_rssi):
        response = as_(client, user).get(target)
        assert response.status_code == 403
        assert "réservés à l&#x27;ARS et au CRRC" in response.content.decode()
    for user in (world.ars_manager, world.crrc_operator, world.trainer):
        response = as_(client, user).get(target)
        assert response.status_code == 200
        assert "Pas encore de chiffres" in response.content.decode()


def test_regional_figures_hide_small_organisations_and_categories(client, world):
    from rempart.organisations.models import FinessCategory

    chu = FinessCategory.objects.create(
        code="101", label="Centre hospitalier régional", sector="sanitaire"
    )
    ehpad = FinessCategory.objects.create(code="500", label="EHPAD", sector="medico_social")
    region = world.hospital.region
    for i in range(5):
        org = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=region, category=chu)
        _c, people = sent_campaign(world, {"Tous": 6}, organisation=org, name=f"C{i}")
        event(people[0], "clicked")
    lonely = OrganisationFactory(
        kind=OrgKind.ESTABLISHMENT, region=region, category=ehpad, name="EHPAD Seul"
    )
    _c, people = sent_campaign(world, {"Tous": 7}, organisation=lonely, name="Seul")
    for person in people:
        event(person, "clicked")
    tiny = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=region, category=ehpad)
    _c, _people = sent_campaign(world, {"Tous": 3}, organisation=tiny, name="Minuscule")
    figures = results.regional_figures(region)
    assert figures.organisations == 6
    assert figures.left_out == 1
    assert figures.total.raw.sent == 37
    assert figures.total.raw.clicked == 12
    # EHPAD (one establishment) is never alone: merged, topped up with the CHR line.
    assert figures.categories == []
    assert figures.others.organisations == 6
    page = as_(client, world.ars_manager).get(reverse("phishing:regional_results")).content.decode()
    assert "EHPAD" not in page
    assert "EHPAD Seul" not in page
    assert "Autres catégories (moins de 5 structures)" in page
    export = b"".join(
        client.get(
            reverse("phishing:regional_results_csv") + f"?region={region.pk}"
        ).streaming_content
    ).decode("utf-8-sig")
    assert "EHPAD" not in export
    assert "Autres catégories" in export
    # Another region's manager sees their own (empty) region, never this one.
    other_ars = member(
        Role.ARS_MANAGER, OrganisationFactory(kind=OrgKind.ARS, region=world.other_hospital.region)
    )
    page = as_(client, other_ars).get(reverse("phishing:regional_results") + f"?region={region.pk}")
    assert page.status_code == 400
    assert "Choisissez une région de la liste." in page.content.decode()


# --- Query budget ---------------------------------------------------------------------------------


def _queries(client, target):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(target)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_query_count_does_not_grow_with_recipients_and_events(
    client, world, django_assert_num_queries
):
    _region_campaigns(world, 5)
    small, people = sent_campaign(world, {"Urgences": 6}, name="Petite")
    event(people[0], "clicked")
    large, people = sent_campaign(
        world, {"Urgences": 60, "Pharmacie": 30, "Cuisine": 3, "Direction": 1}, name="Grande"
    )
    for i, person in enumerate(people):
        event(person, "opened")
        if i % 2:
            event(person, "clicked", bot=i % 3 == 0)
        if i % 5 == 0:
            event(person, "reported", after=datetime.timedelta(hours=i))
    as_(client, world.rssi)
    client.get(url(small))  # (session warm-up)
    baseline = _queries(client, url(small))
    with django_assert_num_queries(baseline):
        assert client.get(url(large)).status_code == 200
    with django_assert_num_queries(baseline):
        assert client.get(url(large) + "?page=2&statut=opened&service=Urgences").status_code == 200
    assert baseline <= 20, baseline
    # The HTMX table alone: constant too, and without the figures' queries.
    hx = {"HX-Request": "true"}
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url(small), headers=hx).status_code == 200
    partial = len(captured.captured_queries)
    assert partial < baseline
    with django_assert_num_queries(partial):
        assert client.get(url(large) + "?page=2&service=__autres__", headers=hx).status_code == 200


def test_daily_timeline_across_the_autumn_clock_change(world):
    # Paris goes from UTC+2 to UTC+1 on 25 October 2026: that day lasts 25 hours.
    start = datetime.datetime(2026, 10, 24, 21, 30, tzinfo=datetime.UTC)  # 24/10 23:30 Paris
    campaign, people = sent_campaign(world, {"Urgences": 5}, sent_at=start)
    event(people[0], "opened", after=datetime.timedelta(minutes=10))  # 24/10 23:40
    event(people[1], "opened", after=datetime.timedelta(hours=2))  # 25/10 00:30
    event(people[2], "opened", after=datetime.timedelta(hours=25, minutes=20))  # 25/10 23:50
    event(people[3], "clicked", after=datetime.timedelta(days=3))  # 27/10 22:30
    timeline = results.campaign_results(campaign).timeline
    assert [(b.label, b.raw["opened"], b.raw["clicked"]) for b in timeline.buckets] == [
        ("24/10/2026", 1, 0),
        ("25/10/2026", 2, 0),
        ("26/10/2026", 0, 0),
        ("27/10/2026", 0, 1),
    ]
