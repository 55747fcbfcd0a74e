from django.urls import path

from clients.views import auth, customers, opening

app_name = "clients"

CLIENT = "clients/<str:client_number>/"

urlpatterns = [
    path("connexion/", auth.login, name="login"),
    path("connexion/code/", auth.second_factor, name="second_factor"),
    path("connexion/activation/", auth.enrol, name="enrol"),
    path("connexion/codes-de-secours/", auth.backup_codes, name="backup_codes"),
    path("deconnexion/", auth.logout, name="logout"),
    path("compte/", auth.account, name="account"),
    path("compte/codes-de-secours/", auth.renew_backup_codes, name="renew_backup_codes"),
    path("langue/", auth.language, name="language"),
    path("", customers.search, name="search"),
    path(CLIENT, customers.record, name="record"),
    path(CLIENT + "coordonnees/", customers.contact, name="contact"),
    path(CLIENT + "accord/", customers.ask, name="ask"),
    path(CLIENT + "retrait/<str:channel>/", customers.withdraw, name="withdraw"),
    path(CLIENT + "capacite/", customers.capacity, name="capacity"),
    path("entree-en-relation/", opening.identity, name="opening"),
    path(
        "entree-en-relation/<str:client_number>/coordonnees/",
        opening.contact,
        name="opening_contact",
    ),
    path("entree-en-relation/quitter/", opening.leave, name="leave_opening"),
]
