"""Public API routes, mounted at `/api/v1/`. Paths as in the spec, without a trailing slash.

The same route with a trailing slash is accepted too; it is left out of the OpenAPI schema.
"""

from django.urls import path

from communications.api.public import files, views
from config.api.routes import route


def _route(pattern: str, view, name: str):
    return [route(pattern, view, name), path(pattern + "/", view.as_view(schema=None))]


urlpatterns = [
    *_route("channels", views.ChannelListView, "public-channels"),
    *_route("channels/<str:channelId>", views.ChannelDetailView, "public-channel"),
    *_route("chats", views.ChatListView, "public-chats"),
    *_route("chats/<str:chatId>", views.ChatDetailView, "public-chat"),
    *_route("chats/<str:chatId>/seen", views.ChatSeenView, "public-chat-seen"),
    *_route("messages", views.MessageListView, "public-messages"),
    *_route("messages/<str:messageId>", views.MessageDetailView, "public-message"),
    *_route("messages/<str:messageId>/status", views.MessageStatusView, "public-message-status"),
    *_route("webhooks", views.WebhookView, "public-webhooks"),
    *_route("bulk/messages", views.BulkMessagesView, "public-bulk-messages"),
    *_route("uploads", files.UploadView, "public-uploads"),
    path("files/<str:token>", files.FileView.as_view(), name="public-file"),
]
