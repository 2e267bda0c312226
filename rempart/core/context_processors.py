from django.urls import reverse
from django.utils.translation import gettext as _

from rempart.organisations import perms

from .middleware import has_second_factor
from .roles import Capability


def navigation(request):
    """The main menu: only what the person's roles give access to."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = [(_("Accueil"), reverse("core:home"))]
    memberships = perms.active_memberships(user)
    if perms.requires_mfa(user) and not has_second_factor(user):
        return {"nav_items": []}  # nothing else opens until the second factor is set up
    if perms.has_capability(user, Capability.VIEW_DIRECTORY):
        items.append((_("Annuaire"), reverse("organisations:directory")))
    if len(memberships) == 1:
        items.append(
            (
                _("Mon organisation"),
                reverse("organisations:detail", args=[memberships[0].organisation_id]),
            )
        )
    if perms.has_capability(user, Capability.VIEW_PROGRAMME):
        items.append((_("Programme CaRE"), reverse("programme:calls")))
        items.append((_("Dossiers CaRE"), reverse("programme:application_list")))
        # Figures across applicants: region-wide and national roles only.
        if (
            perms.capability_regions(user, Capability.VIEW_PROGRAMME, whole_region_only=True)
            != set()
        ):
            items.append((_("Statistiques CaRE"), reverse("programme:statistics")))
    if perms.has_capability(user, Capability.IMPORT_FINESS):
        items.append((_("Import FINESS"), reverse("organisations:finess_import")))
    if perms.has_capability(user, Capability.VIEW_AUDIT):
        items.append((_("Journal d'audit"), reverse("core:audit")))
    if perms.has_capability(user, Capability.USE_API):
        items.append((_("API"), reverse("core:api_tokens")))
    # The current item is the one whose address is the longest prefix of the page's.
    current = max(
        (
            url
            for _label, url in items
            if request.path == url or (url != "/" and request.path.startswith(url))
        ),
        key=len,
        default=None,
    )
    return {
        "nav_items": [
            {"label": label, "url": url, "current": url == current} for label, url in items
        ]
    }
