"""Routes filled in by the case slice."""

urlpatterns: list = []
