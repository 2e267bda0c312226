"""Routes filled in by the declaration slice."""

urlpatterns: list = []
