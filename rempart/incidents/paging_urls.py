"""Routes filled in by the paging slice."""

urlpatterns: list = []
