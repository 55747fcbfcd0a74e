from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "optin"
admin.site.site_title = "optin"
admin.site.index_title = "Administration des consentements"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("", include("signatures.urls")),
]
