import pytest

from rempart.events import perms
from rempart.organisations.models import Organisation

from .factories import events_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return events_world()


def _orgs(q):
    return set(Organisation.objects.filter(q).values_list("name", flat=True)) if q else q


def test_trainers_manage_their_regions_crrc_only(world):
    for user in (world.trainer, world.crrc_operator):
        assert perms.can_manage_trainings(user)
        assert perms.can_manage_session_of(user, world.crrc)
        assert not perms.can_manage_session_of(user, world.other_crrc)
    for user in (world.director, world.rssi, world.staff, world.ars_manager, world.liberal_staff):
        assert not perms.can_manage_trainings(user)
        assert perms.manage_q(user) is None


def test_who_registers_for_whom(world):
    assert perms.can_register_for(world.director, world.establishment)
    assert perms.can_register_for(world.rssi, world.establishment)
    assert not perms.registers_only_self(world.director, world.establishment)
    assert not perms.can_register_for(world.director, world.sibling)
    assert not perms.can_register_for(world.staff, world.establishment)
    assert not perms.can_register_for(world.trainer, world.establishment)
    assert not perms.can_register_for(world.ars_manager, world.establishment)
    # A liberal professional registers themselves, for their own practice only.
    assert perms.can_register_for(world.liberal_staff, world.liberal)
    assert perms.registers_only_self(world.liberal_staff, world.liberal)
    assert not perms.can_register_for(world.liberal_staff, world.establishment)
    assert _orgs(perms.register_q(world.director)) == {"CH Rivebelle"}
    assert perms.register_q(world.staff) is None


def test_catalogue_and_figures(world):
    region = world.region.pk
    assert perms.catalogue_region_ids(world.director) == {region}
    assert perms.catalogue_region_ids(world.liberal_staff) == {region}
    assert perms.catalogue_region_ids(world.ars_manager) == {region}
    assert perms.catalogue_region_ids(world.staff) == set()
    assert not perms.can_use_trainings(world.staff)
    assert perms.can_use_trainings(world.trainer)
    for user in (world.ars_manager, world.crrc_operator, world.trainer):
        assert perms.can_view_figures(user), user
    for user in (world.director, world.rssi, world.staff, world.liberal_staff):
        assert not perms.can_view_figures(user), user
    assert "CRRC Rivebelle" in _orgs(perms.figures_q(world.ars_manager))
    assert "CRRC Ailleurs" not in _orgs(perms.figures_q(world.ars_manager))
