from django.urls import path

from optin import views

app_name = "optin"
urlpatterns = [
    path("u/<str:token>", views.unsubscribe, name="unsubscribe"),
    path("confirmer/<str:token>", views.confirm, name="confirm"),
]
