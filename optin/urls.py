from django.contrib import admin
from django.urls import path

admin.site.site_header = "optin"
admin.site.site_title = "optin"
admin.site.index_title = "Administration des consentements"

urlpatterns = [
    path("admin/", admin.site.urls),
]
