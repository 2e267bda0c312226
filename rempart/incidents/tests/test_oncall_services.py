"""The on-call rota's rules: who may be put on it and by whom, no overlap for one person, level-1
gaps computed on instants (across midnight and changes of time), repeating a week at the same
Paris times, handover notes, the escalation policy, and gateways whose key is never readable."""

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.core.roles import Role
from rempart.incidents import oncall_selectors as sel
from rempart.incidents import oncall_services as services
from rempart.incidents.models import (
    EscalationPolicy,
    OnCallShift,
    Page,
    PageChannel,
    PagingWebhook,
)
from rempart.organisations.tests.factories import member

from .factories import incident_world, make_alert

pytestmark = pytest.mark.django_db

PARIS = sel.PARIS


def paris(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=PARIS)


@pytest.fixture
def world():
    return incident_world(rota=False)


def add(world, person, start, end, level=1, **extra):
    return services.shift_create(
        actor=world.crrc_operator,
        crrc=world.crrc,
        person=person,
        level=level,
        starts_at=start,
        ends_at=end,
        **extra,
    )


# --- Shifts ---------------------------------------------------------------------------------------


def test_operator_puts_rota_people_on_call_with_their_phone_by_default(world):
    world.oncall.phone = "+33 6 11 22 33 44"
    world.oncall.save()
    shift = add(world, world.oncall, paris(2025, 3, 3, 8), paris(2025, 3, 3, 20))
    assert shift.phone == "+33 6 11 22 33 44"
    assert shift.created_by == world.crrc_operator
    # provider people of the region: the on-call expert and the expert
    add(world, world.backup, paris(2025, 3, 3, 8), paris(2025, 3, 3, 20), level=2)
    add(world, world.provider_expert, paris(2025, 3, 3, 8), paris(2025, 3, 3, 20), level=3)
    # a CRRC operator handles incidents too
    add(
        world,
        world.crrc_operator,
        paris(2025, 3, 4, 8),
        paris(2025, 3, 4, 20),
        phone="06 12 34 56 78",
    )
    assert OnCallShift.objects.filter(crrc=world.crrc).count() == 4
    # an audit record for each
    assert (
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(OnCallShift), action=0
        ).count()
        == 4
    )


@pytest.mark.parametrize("who", ["rssi", "ars_manager", "outsider_crrc", "neighbour_rssi"])
def test_only_the_crrc_and_its_providers_people_go_on_the_rota(world, who):
    with pytest.raises(DomainError, match="ne peut pas être mis d'astreinte") as caught:
        add(world, getattr(world, who), paris(2025, 3, 3, 8), paris(2025, 3, 3, 20))
    assert caught.value.field == "person"


def test_provider_of_another_region_is_not_on_the_rota(world):
    other = incident_world("11", rota=False)
    with pytest.raises(DomainError, match="ne peut pas être mis d'astreinte"):
        add(world, other.backup, paris(2025, 3, 3, 8), paris(2025, 3, 3, 20))


@pytest.mark.parametrize("who", ["oncall", "backup", "rssi", "outsider_crrc", "ars_manager"])
def test_only_the_crrc_operators_edit_the_rota(world, who):
    with pytest.raises(DomainError) as caught:
        services.shift_create(
            actor=getattr(world, who),
            crrc=world.crrc,
            person=world.oncall,
            level=1,
            starts_at=paris(2025, 3, 3, 8),
            ends_at=paris(2025, 3, 3, 20),
        )
    assert caught.value.code == "forbidden"
    assert not OnCallShift.objects.exists()


@pytest.mark.parametrize(
    ("start", "end", "level", "phone", "field", "message"),
    [
        (paris(2025, 3, 3, 20), paris(2025, 3, 3, 8), 1, "", "ends_at", "après son début"),
        (paris(2025, 3, 3, 8), paris(2025, 3, 3, 8), 1, "", "ends_at", "après son début"),
        (paris(2025, 3, 3, 8), paris(2025, 4, 10, 8), 1, "", "ends_at", "au plus 31 jours"),
        (paris(2025, 3, 3, 8), paris(2025, 3, 3, 20), 0, "", "level", "de 1"),
        (paris(2025, 3, 3, 8), paris(2025, 3, 3, 20), 10, "", "level", "à 9"),
        (paris(2025, 3, 3, 8), paris(2025, 3, 3, 20), "deux", "", "level", "à 9"),
        (paris(2025, 3, 3, 8), paris(2025, 3, 3, 20), 1, "appelez-moi", "phone", "chiffres"),
        (None, paris(2025, 3, 3, 20), 1, "", "starts_at", "début"),
    ],
)
def test_bad_shifts_are_refused_with_the_field_at_fault(
    world, start, end, level, phone, field, message
):
    with pytest.raises(DomainError, match=message) as caught:
        add(world, world.oncall, start, end, level=level, phone=phone)
    assert caught.value.field == field


def test_one_person_never_has_two_overlapping_shifts(world):
    first = add(world, world.oncall, paris(2025, 3, 3, 20), paris(2025, 3, 4, 8))
    with pytest.raises(DomainError, match="déjà d'astreinte") as caught:
        add(world, world.oncall, paris(2025, 3, 4, 7), paris(2025, 3, 4, 12), level=2)
    assert "lundi 3 mars à 20:00" in caught.value.message
    assert caught.value.code == "overlap"
    # back to back is fine, and another person may cover the same hours
    add(world, world.oncall, paris(2025, 3, 4, 8), paris(2025, 3, 4, 20))
    add(world, world.backup, paris(2025, 3, 3, 20), paris(2025, 3, 4, 8))
    # moving the first shift onto the second is refused too; moving it elsewhere is not
    with pytest.raises(DomainError, match="déjà d'astreinte"):
        services.shift_update(
            actor=world.crrc_operator,
            shift=first,
            person=world.oncall,
            level=1,
            starts_at=paris(2025, 3, 4, 10),
            ends_at=paris(2025, 3, 4, 22),
        )
    moved = services.shift_update(
        actor=world.crrc_operator,
        shift=first,
        person=world.oncall,
        level=1,
        starts_at=paris(2025, 3, 2, 20),
        ends_at=paris(2025, 3, 3, 8),
        phone="+33 6 00 00 00 09",
        handover_note="RAS",
    )
    moved.refresh_from_db()
    assert (moved.starts_at, moved.phone, moved.handover_note) == (
        paris(2025, 3, 2, 20),
        "+33 6 00 00 00 09",
        "RAS",
    )


def test_a_shift_keeps_its_person_after_their_role_ended(world):
    shift = add(world, world.backup, paris(2025, 3, 3, 8), paris(2025, 3, 3, 20))
    world.backup.memberships.update(valid_until=timezone.localdate())
    services.shift_update(
        actor=world.crrc_operator,
        shift=shift,
        person=world.backup,
        level=2,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
    )
    with pytest.raises(DomainError, match="ne peut pas être mis d'astreinte"):
        add(world, world.backup, paris(2025, 3, 5, 8), paris(2025, 3, 5, 20))


def test_delete_a_shift(world):
    shift = add(world, world.oncall, paris(2025, 3, 3, 8), paris(2025, 3, 3, 20))
    with pytest.raises(DomainError):
        services.shift_delete(actor=world.oncall, shift=shift)
    services.shift_delete(actor=world.crrc_operator, shift=shift)
    assert not OnCallShift.objects.exists()
    services.shift_delete(actor=world.crrc_operator, shift=shift)  # twice: no harm


# --- Gaps -----------------------------------------------------------------------------------------


def test_gaps_across_midnight(world):
    monday = datetime.date(2025, 3, 3)
    # night shifts and day shifts, passing midnight, leave no false gap at midnight
    for day in range(7):
        date = monday + datetime.timedelta(days=day)
        add(world, world.oncall, paris(*date.timetuple()[:3], 8), paris(*date.timetuple()[:3], 20))
        nxt = date + datetime.timedelta(days=1)
        if day < 6:
            add(
                world,
                world.backup,
                paris(*date.timetuple()[:3], 20),
                paris(*nxt.timetuple()[:3], 8),
            )
    week = sel.week_view(world.crrc, monday)
    # uncovered: Monday 00:00 → 08:00 and Sunday 20:00 → Monday 00:00
    assert [(g.start, g.end) for g in week.gaps] == [
        (paris(2025, 3, 3, 0), paris(2025, 3, 3, 8)),
        (paris(2025, 3, 9, 20), paris(2025, 3, 10, 0)),
    ]
    assert week.uncovered == datetime.timedelta(hours=12)
    assert week.gaps[0].label == "du lundi 3 mars à 00:00 au lundi 3 mars à 08:00 (8 h)"
    # level 2 does not cover level 1; an overlapping level-1 shift fills the hole
    add(world, world.provider_expert, paris(2025, 3, 2, 22), paris(2025, 3, 3, 9))
    week = sel.week_view(world.crrc, monday)
    assert len(week.gaps) == 1
    # the cells of the week: Monday's night shift shows cut at midnight
    monday_level1 = week.rows[0]["cells"][0].items
    assert [(i["from"], i["to"]) for i in monday_level1] == [
        ("00:00", "09:00"),
        ("08:00", "20:00"),
        ("20:00", "24:00"),
    ]
    assert monday_level1[0]["continues_before"]
    assert monday_level1[2]["continues_after"]


def test_gaps_in_the_week_of_spring_forward(world):
    """30 March 2025: 02:00 becomes 03:00 in Paris. The week lasts 167 hours."""
    monday = datetime.date(2025, 3, 24)
    week = sel.week_view(world.crrc, monday)
    assert week.end - week.start == datetime.timedelta(hours=167)
    assert week.uncovered == datetime.timedelta(hours=167)
    add(world, world.oncall, paris(2025, 3, 24, 0), paris(2025, 3, 30, 1, 30))
    add(world, world.backup, paris(2025, 3, 30, 3, 30), paris(2025, 3, 31, 0))
    week = sel.week_view(world.crrc, monday)
    # 01:30 CET to 03:30 CEST is one real hour, not two
    assert len(week.gaps) == 1
    assert week.gaps[0].duration == datetime.timedelta(hours=1)
    assert week.gaps[0].label == "du dimanche 30 mars à 01:30 au dimanche 30 mars à 03:30 (1 h)"


def test_gaps_in_the_week_of_fall_back(world):
    """26 October 2025: 03:00 becomes 02:00 again. The week lasts 169 hours."""
    monday = datetime.date(2025, 10, 20)
    week = sel.week_view(world.crrc, monday)
    assert week.end - week.start == datetime.timedelta(hours=169)
    add(world, world.oncall, paris(2025, 10, 20, 0), paris(2025, 10, 26, 1, 0))
    add(world, world.backup, paris(2025, 10, 26, 4, 0), paris(2025, 10, 27, 0))
    (gap,) = sel.week_view(world.crrc, monday).gaps
    assert gap.duration == datetime.timedelta(hours=4)  # 01:00 → 04:00 on the wall: 4 hours


def test_format_duration():
    f = sel.format_duration_fr
    assert f(datetime.timedelta(minutes=45)) == "45 min"
    assert f(datetime.timedelta(hours=1, minutes=30)) == "1 h 30"
    assert f(datetime.timedelta(days=2, hours=4)) == "2 j 4 h"


# --- Repeat a week --------------------------------------------------------------------------------


def test_repeat_the_week_skips_overlaps_and_says_how_many(world):
    monday = datetime.date(2025, 3, 3)
    add(world, world.oncall, paris(2025, 3, 3, 8), paris(2025, 3, 3, 20))
    add(world, world.backup, paris(2025, 3, 4, 20), paris(2025, 3, 5, 8))
    # next week, Omar is already on call on Monday afternoon
    add(world, world.oncall, paris(2025, 3, 10, 12), paris(2025, 3, 10, 14), level=2)
    # a shift that started the week before is not copied (it belongs to its own week)
    add(world, world.provider_expert, paris(2025, 3, 2, 20), paris(2025, 3, 3, 8))
    result = services.week_repeat(
        actor=world.crrc_operator, crrc=world.crrc, monday=monday, weeks=3
    )
    assert result.created == 5
    assert len(result.skipped) == 1
    assert "lundi 10 mars à 08:00" in result.skipped[0]
    assert result.message.startswith("5 tours créés, 1 tour ignoré")
    assert OnCallShift.objects.filter(person=world.backup).count() == 4
    assert OnCallShift.objects.filter(person=world.provider_expert).count() == 1
    # again: everything overlaps now
    again = services.week_repeat(actor=world.crrc_operator, crrc=world.crrc, monday=monday, weeks=3)
    assert again.created == 0
    assert len(again.skipped) == 6


def test_repeat_keeps_paris_times_across_the_change_of_time(world):
    add(world, world.oncall, paris(2025, 3, 24, 8), paris(2025, 3, 24, 20))
    # a shift at 02:30 on a Sunday: that hour does not exist on 30 March
    add(world, world.backup, paris(2025, 3, 23, 2, 30), paris(2025, 3, 23, 6))
    services.week_repeat(
        actor=world.crrc_operator, crrc=world.crrc, monday=datetime.date(2025, 3, 17), weeks=1
    )
    result = services.week_repeat(
        actor=world.crrc_operator, crrc=world.crrc, monday=datetime.date(2025, 3, 24), weeks=1
    )
    assert result.created == 1
    copy = OnCallShift.objects.get(person=world.oncall, starts_at__date__gte="2025-03-31")
    assert sel.local(copy.starts_at).hour == 8
    assert sel.local(copy.ends_at).hour == 20
    assert copy.starts_at - paris(2025, 3, 24, 8) == datetime.timedelta(days=7, hours=-1)
    assert not OnCallShift.objects.filter(
        person=world.backup, starts_at__gte=paris(2025, 3, 24)
    ).exists()


def test_repeat_needs_shifts_a_manager_and_a_sane_number_of_weeks(world):
    monday = datetime.date(2025, 3, 3)
    with pytest.raises(DomainError, match="rien à recopier"):
        services.week_repeat(actor=world.crrc_operator, crrc=world.crrc, monday=monday, weeks=2)
    add(world, world.oncall, paris(2025, 3, 3, 8), paris(2025, 3, 3, 20))
    for weeks in (0, 13, "x"):
        with pytest.raises(DomainError, match="entre 1 et 12"):
            services.week_repeat(
                actor=world.crrc_operator, crrc=world.crrc, monday=monday, weeks=weeks
            )
    with pytest.raises(DomainError) as caught:
        services.week_repeat(actor=world.oncall, crrc=world.crrc, monday=monday, weeks=1)
    assert caught.value.code == "forbidden"


# --- Handover -------------------------------------------------------------------------------------


def test_handover_is_written_by_the_person_on_call_or_an_operator(world):
    now = timezone.now()
    previous = add(
        world, world.backup, now - datetime.timedelta(hours=14), now - datetime.timedelta(hours=2)
    )
    current = add(
        world, world.oncall, now - datetime.timedelta(hours=2), now + datetime.timedelta(hours=10)
    )
    services.handover_write(
        actor=world.backup, shift=previous, note="Alerte n° 12 à rappeler à 8 h."
    )
    with pytest.raises(DomainError, match="Seule la personne d'astreinte"):
        services.handover_write(actor=world.oncall, shift=previous, note="effacé")
    with pytest.raises(DomainError, match="10000"):
        services.handover_write(actor=world.backup, shift=previous, note="x" * 10_001)
    services.handover_write(actor=world.crrc_operator, shift=current, note="Complété par le CRRC")
    panel = sel.now_panel(world.crrc)
    assert panel.level1 == current
    assert panel.handed_over_by == previous
    assert panel.handed_over_by.handover_note == "Alerte n° 12 à rappeler à 8 h."
    mine = sel.handover_shifts(world.crrc, world.oncall, now)
    assert mine["shift"] == current
    assert mine["received"] == previous
    # the outgoing person may still write theirs after the end of the shift
    assert sel.handover_shifts(world.crrc, world.backup, now)["shift"] == previous


# --- Policy ---------------------------------------------------------------------------------------


def test_policy_is_created_on_first_save_then_changed(world):
    policy = sel.policy_of(world.crrc)
    assert policy.pk is None
    assert policy.ack_timeout_minutes == 5
    assert not EscalationPolicy.objects.exists()
    services.policy_save(
        actor=world.crrc_operator,
        crrc=world.crrc,
        ack_timeout_minutes=10,
        rounds=2,
        dedup_window_minutes=30,
    )
    services.policy_save(
        actor=world.crrc_operator,
        crrc=world.crrc,
        ack_timeout_minutes="15",
        rounds=4,
        dedup_window_minutes=60,
    )
    policy = EscalationPolicy.objects.get()
    assert (policy.ack_timeout_minutes, policy.rounds, policy.dedup_window_minutes) == (15, 4, 60)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"ack_timeout_minutes": 0}, "ack_timeout_minutes"),
        ({"ack_timeout_minutes": 121}, "ack_timeout_minutes"),
        ({"rounds": 11}, "rounds"),
        ({"rounds": "beaucoup"}, "rounds"),
        ({"dedup_window_minutes": 1441}, "dedup_window_minutes"),
    ],
)
def test_policy_ranges(world, values, field):
    data = {"ack_timeout_minutes": 5, "rounds": 3, "dedup_window_minutes": 60, **values}
    with pytest.raises(DomainError) as caught:
        services.policy_save(actor=world.crrc_operator, crrc=world.crrc, **data)
    assert caught.value.field == field


def test_policy_of_another_region_is_refused(world):
    with pytest.raises(DomainError) as caught:
        services.policy_save(
            actor=world.outsider_crrc,
            crrc=world.crrc,
            ack_timeout_minutes=5,
            rounds=3,
            dedup_window_minutes=60,
        )
    assert caught.value.code == "forbidden"


# --- Gateways -------------------------------------------------------------------------------------


def _raw_secret(webhook) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT secret FROM {PagingWebhook._meta.db_table} WHERE id = %s",  # noqa: S608
            [webhook.pk],
        )
        return cursor.fetchone()[0]


def test_generated_secret_is_strong_encrypted_and_returned_once(world):
    result = services.webhook_create(
        actor=world.crrc_operator, crrc=world.crrc, name="SMS", url="https://sms.exemple.fr/envoi"
    )
    assert result.generated_secret
    assert len(result.generated_secret) >= 43
    assert result.warnings == []
    stored = PagingWebhook.objects.get()
    assert stored.secret == result.generated_secret
    assert result.generated_secret not in _raw_secret(stored)  # encrypted at rest
    # the audit trail never holds it
    for entry in AuditEntry.objects.all():
        assert result.generated_secret not in str(entry.changes) + str(entry.serialized_data)


def test_typed_secret_is_kept_and_not_returned(world):
    result = services.webhook_create(
        actor=world.crrc_operator,
        crrc=world.crrc,
        name="Voix",
        url="http://127.0.0.1:8025/voix",
        secret="une-cle-assez-longue-1234",
    )
    assert result.generated_secret is None
    assert result.warnings == [services.NOT_HTTPS_WARNING]
    assert PagingWebhook.objects.get().secret == "une-cle-assez-longue-1234"
    with pytest.raises(DomainError, match="au moins 16") as caught:
        services.webhook_create(
            actor=world.crrc_operator,
            crrc=world.crrc,
            name="Autre",
            url="https://a.fr",
            secret="court",
        )
    assert caught.value.field == "secret"
    with pytest.raises(DomainError, match="porte déjà ce nom"):
        services.webhook_create(
            actor=world.crrc_operator, crrc=world.crrc, name="voix", url="https://a.fr"
        )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://sms.exemple.fr", "https://"),
        ("sms.exemple.fr/envoi", "https://"),
        ("javascript:alert(1)", "https://"),
        ("", "https://"),
        ("https://user:motdepasse@sms.exemple.fr/", "identifiant"),
        ("https://sms.exemple.fr/" + "a" * 500, "500 caractères"),
    ],
)
def test_gateway_url_must_be_http_or_https(world, url, message):
    with pytest.raises(DomainError, match=message) as caught:
        services.webhook_create(actor=world.crrc_operator, crrc=world.crrc, name="SMS", url=url)
    assert caught.value.field == "url"
    assert not PagingWebhook.objects.exists()


def test_rotate_secret_audits_the_date_not_the_key(world):
    created = services.webhook_create(
        actor=world.crrc_operator, crrc=world.crrc, name="SMS", url="https://sms.exemple.fr"
    )
    webhook = created.webhook
    rotated = services.webhook_rotate_secret(actor=world.crrc_operator, webhook=webhook)
    assert rotated.generated_secret not in (None, created.generated_secret)
    assert PagingWebhook.objects.get().secret == rotated.generated_secret
    entry = AuditEntry.objects.get(changes__has_key="secret")
    assert entry.actor == world.crrc_operator
    assert entry.organisation_id == world.crrc.pk
    assert rotated.generated_secret not in str(entry.changes)
    (listed,) = sel.webhooks_of(world.crrc)
    assert listed.secret_set_at == entry.timestamp
    own = services.webhook_rotate_secret(
        actor=world.crrc_operator, webhook=webhook, secret="ma-nouvelle-cle-secrete"
    )
    assert own.generated_secret is None
    with pytest.raises(DomainError) as caught:
        services.webhook_rotate_secret(actor=world.oncall, webhook=webhook)
    assert caught.value.code == "forbidden"


def test_used_gateway_is_deactivated_never_deleted(world):
    world_with_rota = incident_world("31")
    unused = services.webhook_create(
        actor=world.crrc_operator, crrc=world.crrc, name="Inutile", url="https://a.exemple.fr"
    ).webhook
    services.webhook_delete(actor=world.crrc_operator, webhook=unused)
    assert not PagingWebhook.objects.filter(pk=unused.pk).exists()

    used = services.webhook_create(
        actor=world_with_rota.crrc_operator,
        crrc=world_with_rota.crrc,
        name="SMS",
        url="https://sms.exemple.fr",
    ).webhook
    alert = make_alert(world_with_rota)
    Page.objects.create(
        alert=alert,
        step=0,
        level=1,
        recipient=world_with_rota.oncall,
        channel=PageChannel.WEBHOOK,
        webhook=used,
        created_at=timezone.now(),
    )
    with pytest.raises(DomainError, match="Désactivez-la") as caught:
        services.webhook_delete(actor=world_with_rota.crrc_operator, webhook=used)
    assert caught.value.code == "in_use"
    services.webhook_set_active(actor=world_with_rota.crrc_operator, webhook=used, active=False)
    used.refresh_from_db()
    assert not used.active
    with pytest.raises(DomainError):
        services.webhook_set_active(actor=world.crrc_operator, webhook=used, active=True)


def test_update_gateway(world):
    webhook = services.webhook_create(
        actor=world.crrc_operator, crrc=world.crrc, name="SMS", url="https://sms.exemple.fr"
    ).webhook
    result = services.webhook_update(
        actor=world.crrc_operator, webhook=webhook, name="SMS nuit", url="http://127.0.0.1:9/sms"
    )
    assert result.warnings == [services.NOT_HTTPS_WARNING]
    webhook.refresh_from_db()
    assert (webhook.name, webhook.url) == ("SMS nuit", "http://127.0.0.1:9/sms")


# --- Who sees which rota --------------------------------------------------------------------------


def test_who_sees_the_rota(world):
    visible = lambda user: list(sel.crrcs_visible_to(user))  # noqa: E731
    for user in (world.crrc_operator, world.oncall, world.backup, world.provider_expert):
        assert visible(user) == [world.crrc], user
    for user in (world.rssi, world.director, world.staff, world.ars_manager, world.neighbour_rssi):
        assert visible(user) == [], user
    assert world.crrc not in visible(world.outsider_crrc)
    # a provider's trainer is not an on-call person
    trainer = member(Role.TRAINER, world.provider)
    assert visible(trainer) == []
    candidates = set(sel.rota_candidates(world.crrc))
    assert candidates == {world.crrc_operator, world.oncall, world.backup, world.provider_expert}
