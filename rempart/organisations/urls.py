from django.urls import include, path

from . import views

app_name = "organisations"

urlpatterns = [
    path("", views.directory, name="directory"),
    path("nouvelle/", views.create, name="create"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/composition/", views.ght_composition, name="ght_composition"),
    path("<int:pk>/modifier/", views.edit, name="edit"),
    path("<int:pk>/personnes/", views.people, name="people"),
    path("<int:pk>/personnes/inviter/", views.invite, name="invite"),
    path("rattachements/<int:pk>/terminer/", views.membership_end, name="membership_end"),
    path("invitations/<int:pk>/renvoyer/", views.invitation_resend, name="invitation_resend"),
    path("invitations/<int:pk>/annuler/", views.invitation_revoke, name="invitation_revoke"),
    path("invitation/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("finess/", include("rempart.organisations.finess_urls")),
]
