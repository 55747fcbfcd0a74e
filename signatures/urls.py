from django.urls import path

from signatures import views

app_name = "signatures"

FORM = "clients/<str:client_number>/formulaires/<str:reference>/"

urlpatterns = [
    path("formulaires/en-attente/", views.pending, name="pending"),
    path(FORM, views.form_detail, name="detail"),
    path(FORM + "tablette/", views.sign_tablet, name="sign_tablet"),
    path(FORM + "papier/", views.sign_paper, name="sign_paper"),
    path(FORM + "annuler/", views.cancel, name="cancel"),
    path(FORM + "pdf/", views.download, {"which": "original"}, name="pdf"),
    path(FORM + "pdf-signe/", views.download, {"which": "signed"}, name="signed_pdf"),
]
