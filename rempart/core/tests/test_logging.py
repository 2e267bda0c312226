import json
import logging
import logging.config

import pytest
from django.conf import settings
from django.urls import reverse


@pytest.mark.django_db
def test_requests_are_logged_as_structured_events(client, caplog):
    caplog.set_level(logging.INFO, logger="django_structlog")
    client.get(reverse("core:healthz"))
    events = [r.msg for r in caplog.records if r.name.startswith("django_structlog")]
    finished = [e for e in events if isinstance(e, dict) and e.get("event") == "request_finished"]
    assert finished, events
    assert finished[0]["code"] == 200
    assert finished[0]["request_id"]


def test_log_lines_are_json():
    formatter = logging.config.dictConfigClass({"version": 1}).configure_custom(
        dict(settings.LOGGING["formatters"]["json"])
    )
    record = logging.LogRecord("rempart", logging.INFO, __file__, 1, "import terminé", None, None)
    line = json.loads(formatter.format(record))
    assert line["event"] == "import terminé"
    assert line["level"] == "info"
    assert "timestamp" in line
