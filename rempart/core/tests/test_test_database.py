"""The test database's sessions on PostgreSQL never wait forever (root conftest.py): a session
idle in a transaction is ended after 2 minutes, a lock wait gives up after 5."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL settings")
def test_sessions_have_lock_and_idle_timeouts():
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        lock_timeout = cursor.fetchone()[0]
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        idle_timeout = cursor.fetchone()[0]
    assert (lock_timeout, idle_timeout) == ("5min", "2min")
