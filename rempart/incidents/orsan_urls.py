"""Routes filled in by the orsan slice."""

urlpatterns: list = []
