"""REST API routes (v1) and the OpenAPI schema and docs."""

from django.urls import include, path
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter

from rempart.awareness import api_routes as awareness_api
from rempart.events import api_routes as events_api
from rempart.exercises import api_routes as exercises_api
from rempart.exposure import api_routes as exposure_api
from rempart.incidents import api_routes as incidents_api
from rempart.organisations import api as organisations_api
from rempart.phishing import api_routes as phishing_api
from rempart.programme import api as programme_api
from rempart.programme import followup_api
from rempart.programme.stats_api import CallStatisticsView

router = SimpleRouter()
router.register("organisations", organisations_api.OrganisationViewSet, basename="organisation")
router.register("memberships", organisations_api.MembershipViewSet, basename="membership")
router.register("invitations", organisations_api.InvitationViewSet, basename="invitation")
# The CaRE programme: funding calls (read) and files (applications), with their actions
# (submit/, review/, comments/).
router.register("calls", programme_api.CallViewSet, basename="call")
router.register("applications", programme_api.ApplicationViewSet, basename="application")
# After acceptance: target declarations (with proofs, ARS review), and under each file its
# targets/, payment/ and report/ (the same prefix: this viewset only adds actions to a file).
router.register("declarations", followup_api.DeclarationViewSet, basename="declaration")
router.register(
    "applications", followup_api.ApplicationFollowupViewSet, basename="application-followup"
)
# Incident assistance: alerts, paging, cases, declarations, ORSAN (see the module).
incidents_api.register(router)
# Simulated phishing: campaigns, their results and sending controls.
phishing_api.register(router)
# Trainings and webinars: sessions, registrations (with the waiting list and cancel/).
events_api.register(router)
# Crisis exercises: the runs with their validity verdicts.
exercises_api.register(router)
# Exposure watch: organisations, assets, authorisations, scans and findings.
exposure_api.register(router)

v1_patterns = [
    *router.urls,
    *incidents_api.urlpatterns,
    # Awareness: e-learning modules and quizzes.
    *awareness_api.urlpatterns,
    # Trainings' figures; crisis exercises' coverage and its organisations list.
    *events_api.urlpatterns,
    *exercises_api.urlpatterns,
    *exposure_api.urlpatterns,
    path("me/", organisations_api.MeView.as_view(), name="me"),
    # A call's statistics (region-wide and national roles).
    path(
        "calls/<int:pk>/statistics/",
        CallStatisticsView.as_view(),
        name="call-statistics",
    ),
]

# The schema, for any logged-in person (session or token); JSON unless YAML is asked for, so
# that errors keep the API's structured JSON body.
schema_view = SpectacularAPIView.as_view(
    permission_classes=[IsAuthenticated],
    renderer_classes=[
        OpenApiJsonRenderer2,
        OpenApiJsonRenderer,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ],
)

# Swagger UI, split so that its start-up script is a separate same-origin file: the strict
# Content-Security-Policy applies unchanged. DRF marks its views as not needing a login; the
# docs page is for logged-in people, so LoginRequiredMiddleware handles it again.
docs_view = SpectacularSwaggerSplitView.as_view(
    url_name="api-schema",
    template_name="core/api_docs.html",
    title="Documentation de l'API Rempart",
)
docs_view.login_required = True

urlpatterns = [
    path("v1/", include((v1_patterns, "api-v1"))),
    path("schema/", schema_view, name="api-schema"),
    path("docs/", docs_view, name="api-docs"),
]
