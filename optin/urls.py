from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from optin.api.exceptions import error_body, not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("optin.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", not_found),
    path("", include("optin.public_urls")),
    path("", include("clients.urls")),
    path("", include("signatures.urls")),
    path("", include("optin.compliance.urls")),
]


def server_error(request: HttpRequest) -> HttpResponse:
    """A bug: JSON under /api/ (integrators parse it), the page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("server_error", "Erreur interne : elle a été journalisée."), status=500
        )
    return defaults.server_error(request)


handler500 = server_error
