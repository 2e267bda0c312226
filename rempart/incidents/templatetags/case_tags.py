"""Template helpers of the case slice, for pages of other slices (the alert detail page)."""

from django import template

register = template.Library()


@register.simple_tag
def case_link_choices(user, alert):
    """The open cases of the alert's organisation the user may add an alert to."""
    from rempart.incidents.case_services import cases_linkable_for

    if alert is None or not getattr(user, "is_authenticated", False):
        return []
    return cases_linkable_for(user, alert)
