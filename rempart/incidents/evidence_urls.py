"""Routes filled in by the evidence slice."""

urlpatterns: list = []
