"""What the page benchmarks at national scale share (assessment distribution, exercise
coverage): the registry they build (regions with their départements, FINESS categories) and the
timing of one page as two people see it, through Django's test client, with its query count."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from benchkit import log


def bulk_registry(regions: int, departements_per_region: int, categories):
    """(regions, départements, categories), bulk-created; codes outside the real ones."""
    from rempart.organisations.models import Departement, FinessCategory, Region

    made_regions = Region.objects.bulk_create(
        Region(code=f"{90 + i}", name=f"Région {i + 1}") for i in range(regions)
    )
    departements = Departement.objects.bulk_create(
        Departement(
            code=f"{r * departements_per_region + d + 1:03d}",
            name=f"Département {r}-{d}",
            region=region,
        )
        for r, region in enumerate(made_regions)
        for d in range(departements_per_region)
    )
    made_categories = FinessCategory.objects.bulk_create(
        FinessCategory(code=code, label=label, sector=sector) for code, label, sector in categories
    )
    return made_regions, departements, made_categories


def time_page(
    url: str,
    people: dict,
    check: Callable[[object, str], None],
    *,
    warmup: int,
    measured: int,
):
    """Time `url` for each person (label → user), alternating, after `warmup` requests;
    `check(response, label)` refuses a wrong page (SystemExit). Returns (clients by label,
    median of the first person's times in ms, the largest query count of one page)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clients = {}
    for label, user in people.items():
        client = Client()
        client.force_login(user)
        clients[label] = client

    def timed(label) -> float:
        started = time.perf_counter()
        response = clients[label].get(url)
        elapsed = (time.perf_counter() - started) * 1000
        check(response, label)
        return elapsed

    labels = list(clients)
    for i in range(warmup):
        timed(labels[i % len(labels)])
    by_label: dict[str, list[float]] = {label: [] for label in labels}
    for i in range(measured):
        label = labels[i % len(labels)]
        by_label[label].append(timed(label))
    for label, times in by_label.items():
        log(f"  {label:<18} médiane {statistics.median(times):7.1f} ms  max {max(times):7.1f} ms")
    counts = []
    for index, label in enumerate(labels):
        with CaptureQueriesContext(connection) as captured:
            clients[label].get(url)
        counts.append(len(captured.captured_queries))
        if index == 0:
            for query in captured.captured_queries:
                log(f"  [{float(query['time']) * 1000:6.1f} ms] {query['sql'][:150]}")
    log(f"  requêtes par page ({', '.join(labels)}) : {counts}")
    return clients, statistics.median(by_label[labels[0]]), max(counts)
