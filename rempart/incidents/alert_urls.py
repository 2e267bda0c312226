"""Routes filled in by the alert slice."""

urlpatterns: list = []
