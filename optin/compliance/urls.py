from django.urls import path

from optin.compliance.views import access, bundle, dashboard, erasure, integrity, trail

app_name = "compliance"

urlpatterns = [
    path("conformite/journal/", trail.trail, name="trail"),
    path("conformite/journal/export.csv", trail.export, name="trail_export"),
    path("conformite/journal/<int:seq>/", trail.entry, name="entry"),
    path("conformite/integrite/", integrity.integrity, name="integrity"),
    path("conformite/clients/<str:client_number>/preuve/", bundle.bundle, name="bundle"),
    path("conformite/clients/<str:client_number>/effacement/", erasure.erasure, name="erasure"),
    path("conformite/effacements/<int:seq>/", erasure.erasure_done, name="erasure_done"),
    path("conformite/tableau-de-bord/", dashboard.dashboard, name="dashboard"),
    path("conformite/acces/", access.access_log, name="access"),
]
