"""Django's makemessages, without fuzzy matching: a new message gets no guessed translation
from a similar one (which would read as translated and be wrong); it waits, empty, for its own."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    msgmerge_options = [*makemessages.Command.msgmerge_options, "--no-fuzzy-matching"]
