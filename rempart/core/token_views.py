from django.http import Http404
from django.shortcuts import render

from rempart.organisations import perms

from .roles import Capability


def token_list(request):
    if not perms.has_capability(request.user, Capability.USE_API):
        raise Http404
    return render(request, "core/api_tokens.html", {"tokens": request.user.api_tokens.all()})
