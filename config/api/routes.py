"""One line a route in the API url modules: `route("chats", views.ChatListView, "operator-chats")`."""

from django.urls import path


def route(pattern: str, view, name: str):
    """`path(pattern, view.as_view(), name=name)` for an API view class."""
    return path(pattern, view.as_view(), name=name)
