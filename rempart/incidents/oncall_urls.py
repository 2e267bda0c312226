"""Routes filled in by the oncall slice."""

urlpatterns: list = []
