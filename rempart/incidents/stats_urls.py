"""Routes filled in by the stats slice."""

urlpatterns: list = []
