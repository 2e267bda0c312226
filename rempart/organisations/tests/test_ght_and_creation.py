import pytest
from django.urls import reverse

from rempart.core.errors import DomainError
from rempart.core.roles import OrgKind, Role
from rempart.organisations import services
from rempart.organisations.models import Organisation

from .factories import DepartementFactory, OrganisationFactory, RegionFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def region():
    return RegionFactory(code="84")


@pytest.fixture
def ars_manager(region):
    return member(
        Role.ARS_MANAGER,
        OrganisationFactory(kind=OrgKind.ARS, region=region, finess=None, sector=""),
    )


@pytest.fixture
def ght(region):
    return OrganisationFactory(
        kind=OrgKind.GHT, region=region, finess=None, sector="", name="GHT Loire"
    )


def test_region_manager_builds_a_ght(client, ars_manager, ght, region):
    first, second = (
        OrganisationFactory(region=region, name="CH Roanne"),
        OrganisationFactory(region=region),
    )
    client.force_login(ars_manager)
    url = reverse("organisations:ght_composition", args=[ght.pk])
    assert client.post(url, {"action": "add", "finess": first.finess}).status_code == 302
    assert client.post(url, {"action": "add", "finess": second.finess}).status_code == 302
    assert client.post(url, {"action": "support", "establishment": first.pk}).status_code == 302
    ght.refresh_from_db()
    assert ght.support_establishment == first
    assert set(ght.members.all()) == {first, second}
    refused = client.post(url, {"action": "remove", "establishment": first.pk})
    assert refused.status_code == 400
    assert "autre établissement support" in refused.text
    unknown = client.post(url, {"action": "add", "finess": "999999999"})
    assert unknown.status_code == 400
    assert "Aucun établissement" in unknown.text
    assert client.post(url, {"action": "remove", "establishment": second.pk}).status_code == 302
    assert set(ght.members.all()) == {first}


def test_one_ght_per_establishment(ars_manager, ght, region):
    other = OrganisationFactory(
        kind=OrgKind.GHT, region=region, finess=None, sector="", name="GHT Rhône"
    )
    hospital = OrganisationFactory(region=region, ght=other)
    with pytest.raises(DomainError, match="déjà membre du GHT"):
        services.ght_add_member(actor=ars_manager, ght=ght, establishment=hospital)


def test_establishments_cannot_compose_their_ght(client, ght, region):
    hospital = OrganisationFactory(region=region, ght=ght)
    director = member(Role.DIRECTOR, hospital)
    client.force_login(director)
    assert client.get(reverse("organisations:ght_composition", args=[ght.pk])).status_code == 404
    coordinator = member(Role.GHT_COORDINATOR, ght)
    client.force_login(coordinator)
    assert client.get(reverse("organisations:ght_composition", args=[ght.pk])).status_code == 404


def test_ght_from_another_region_is_refused(ars_manager, ght):
    foreign = OrganisationFactory(region=RegionFactory(code="11"))
    with pytest.raises(DomainError):
        services.ght_add_member(actor=ars_manager, ght=ght, establishment=foreign)


def test_create_provider_and_refuse_finess_kinds(client, ars_manager, region):
    dept = DepartementFactory(code="69", name="Rhône", region=region)
    client.force_login(ars_manager)
    url = reverse("organisations:create")
    response = client.post(
        url,
        {
            "kind": "provider",
            "name": "CyberSecours SAS",
            "region": region.pk,
            "departement": dept.pk,
            "siret": "12345678901234",
        },
    )
    assert response.status_code == 302
    provider = Organisation.objects.get(name="CyberSecours SAS")
    assert provider.kind == OrgKind.PROVIDER
    assert provider.region == region
    response = client.post(url, {"kind": "establishment", "name": "Clinique", "region": region.pk})
    assert response.status_code == 400
    response = client.post(
        url, {"kind": "provider", "name": "X", "region": region.pk, "siret": "12"}
    )
    assert response.status_code == 400
    assert "14 chiffres" in response.text
    other_dept = DepartementFactory(code="75", region=RegionFactory(code="11"))
    response = client.post(
        url, {"kind": "provider", "name": "X", "region": region.pk, "departement": other_dept.pk}
    )
    assert response.status_code == 400


def test_creation_is_for_regional_editors_only(client, region, ght):
    rssi = member(Role.RSSI, OrganisationFactory(region=region))
    client.force_login(rssi)
    assert client.get(reverse("organisations:create")).status_code == 404
    with pytest.raises(DomainError):
        services.organisation_create(actor=rssi, kind=OrgKind.PROVIDER, name="X", region=region)
