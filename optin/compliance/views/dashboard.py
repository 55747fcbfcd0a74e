"""Being written: the page answers 501 until then."""

from django.http import HttpRequest, HttpResponse


def dashboard(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return HttpResponse(status=501)
