from django.urls import include, path

app_name = "incidents"

urlpatterns = [
    # The qualification-and-alert form, the alerts and their handling.
    path("alertes/", include("rempart.incidents.alert_urls")),
    # Paging: signed acknowledgement links, the end-to-end chain test.
    path("astreinte/", include("rempart.incidents.paging_urls")),
    # The CRRC's rota, escalation policy and gateways.
    path("astreinte/", include("rempart.incidents.oncall_urls")),
    # Cases: timeline, tasks, assets, sharing; indicators, evidence and exports.
    path("dossiers/", include("rempart.incidents.case_urls")),
    path("dossiers/", include("rempart.incidents.evidence_urls")),
    # The mandatory CERT Santé declaration of a case.
    path("dossiers/", include("rempart.incidents.declaration_urls")),
    # ORSAN cyber mutual aid.
    path("orsan/", include("rempart.incidents.orsan_urls")),
    # Regional figures and response times.
    path("statistiques/", include("rempart.incidents.stats_urls")),
]
