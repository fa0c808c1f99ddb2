from communications.api.internal.operator import views
from config.api.routes import route

# (path under operator/, view, name after «operator-»)
urlpatterns = [route(f"operator/{pattern}", view, f"operator-{name}") for pattern, view, name in (
    ("chats", views.ChatListView, "chats"),
    ("chats/<str:chat_id>/messages", views.ChatMessagesView, "chat-messages"),
    ("chats/<str:chat_id>/read", views.ChatReadView, "chat-read"),
    ("messages/<int:message_id>", views.MessageView, "message"),
    ("messages/<int:message_id>/status", views.MessageStatusView, "message-status"),
    ("uploads", views.UploadView, "uploads"),
    ("broadcasts", views.BroadcastView, "broadcasts"),
)]
