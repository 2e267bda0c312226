"""The incident assistance routes of the REST API v1, plugged into the project's router
(config/api_urls.py). Each slice adds its viewsets to `register` and any other route to
`urlpatterns`."""


def register(router) -> None:
    return None


urlpatterns: list = []
