from django.http import Http404
from django.shortcuts import render

from . import perms
from .models import FinessImport


def import_list(request):
    if not perms.can_import_finess(request.user):
        raise Http404
    return render(request, "organisations/finess_import.html", {"imports": FinessImport.objects.all()[:20]})
