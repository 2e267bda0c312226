import pytest

from .smtp_sink import running_sink


@pytest.fixture
def sink():
    """A real SMTP server on 127.0.0.1 keeping what it accepts (see smtp_sink)."""
    with running_sink() as handler:
        yield handler
