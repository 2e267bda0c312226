"""The access rules of incident assistance, person by person."""

import pytest

from rempart.incidents import perms, selectors
from rempart.incidents.models import AccessLevel, CaseAccess, Page, PageChannel

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return incident_world()


def test_alert_is_seen_by_reporter_managers_crrc_and_paged_expert_only(world):
    alert = make_alert(world, reporter=world.staff)
    seen = lambda user: selectors.alerts_visible_to(user).filter(pk=alert.pk).exists()  # noqa: E731
    assert seen(world.staff)  # the reporter
    assert seen(world.rssi)
    assert seen(world.director)
    assert seen(world.ght_coordinator)  # the GHT
    assert seen(world.crrc_operator)  # the region's hotline
    assert not seen(world.oncall)  # not paged yet
    Page.objects.create(
        alert=alert,
        step=0,
        level=1,
        recipient=world.oncall,
        channel=PageChannel.EMAIL,
        created_at=alert.received_at,
    )
    assert seen(world.oncall)
    for outsider in (world.neighbour_rssi, world.ars_manager, world.outsider_crrc, world.backup):
        assert not seen(outsider), outsider
    assert perms.can_handle_alert(world.oncall, alert)
    assert not perms.can_handle_alert(world.staff, alert)


def test_case_levels(world):
    case = make_case(world)
    level = lambda user: perms.case_access_level(user, case)  # noqa: E731
    assert level(world.rssi) == AccessLevel.MANAGE
    assert level(world.crrc_operator) == AccessLevel.MANAGE
    assert level(world.staff) is None
    assert level(world.ars_manager) is None  # figures, not cases, until invited
    assert level(world.oncall) is None
    CaseAccess.objects.create(
        case=case, organisation=world.ars, level=AccessLevel.READ, granted_at=case.opened_at
    )
    CaseAccess.objects.create(
        case=case, person=world.oncall, level=AccessLevel.CONTRIBUTE, granted_at=case.opened_at
    )
    assert level(world.ars_manager) == AccessLevel.READ
    assert level(world.oncall) == AccessLevel.CONTRIBUTE
    assert perms.can_contribute(world.oncall, case)
    assert not perms.can_manage_case(world.oncall, case)
    visible = selectors.cases_visible_to(world.ars_manager)
    assert list(visible) == [case]  # once, whatever the number of grants
    assert not selectors.cases_visible_to(world.outsider_crrc).exists()


def test_no_access_is_said_not_hidden(world):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    case = make_case(world)
    with pytest.raises(PermissionDenied, match="pas accès à ce dossier"):
        selectors.get_visible_case(world.outsider_rssi, case.pk)
    with pytest.raises(Http404):
        selectors.get_visible_case(world.rssi, case.pk + 1000)
    CaseAccess.objects.create(
        case=case, organisation=world.neighbour, level=AccessLevel.READ, granted_at=case.opened_at
    )
    assert selectors.get_visible_case(world.neighbour_rssi, case.pk) == case
    with pytest.raises(PermissionDenied, match="lecture seule"):
        selectors.get_visible_case(world.neighbour_rssi, case.pk, AccessLevel.CONTRIBUTE)


def test_figures_and_orsan_rights(world):
    assert perms.can_view_stats(world.ars_manager)
    assert perms.can_view_stats(world.crrc_operator)
    assert not perms.can_view_stats(world.rssi)
    assert perms.can_activate_in(world.ars_manager, world.region.pk)
    assert not perms.can_activate_in(world.crrc_operator, world.region.pk)
    assert perms.can_mobilise_in(world.crrc_operator, world.region.pk)
    assert perms.can_offer_for(world.neighbour_rssi, world.neighbour)
    assert not perms.can_offer_for(world.neighbour_rssi, world.hospital)
    assert perms.can_manage_oncall(world.crrc_operator, world.crrc)
    assert not perms.can_manage_oncall(world.oncall, world.crrc)
