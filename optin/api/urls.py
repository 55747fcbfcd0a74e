from django.urls import path, re_path

from optin.api import views
from optin.api.exceptions import not_found

urlpatterns = [
    path("clients", views.ClientCreateApi.as_view(), name="api-clients"),
    path("clients/<str:client_number>", views.ClientDetailApi.as_view(), name="api-client"),
    path(
        "clients/<str:client_number>/consents",
        views.ClientConsentsApi.as_view(),
        name="api-client-consents",
    ),
    path(
        "clients/<str:client_number>/history",
        views.ClientHistoryApi.as_view(),
        name="api-client-history",
    ),
    path(
        "clients/<str:client_number>/erasure",
        views.ClientErasureApi.as_view(),
        name="api-client-erasure",
    ),
    path("wordings", views.WordingListApi.as_view(), name="api-wordings"),
    path("eligibility", views.EligibilityApi.as_view(), name="api-eligibility"),
    path("optin-list", views.OptinListApi.as_view(), name="api-optin-list"),
    path("sms/stop", views.SmsStopApi.as_view(), name="api-sms-stop"),
    path("audit/verify", views.AuditVerifyApi.as_view(), name="api-audit-verify"),
    re_path(r"^.*$", not_found),
]
