from django.urls import path

from communications.api.internal.operator import views

urlpatterns = [
    path("operator/chats", views.ChatListView.as_view(), name="operator-chats"),
    path("operator/chats/<str:chat_id>/messages", views.ChatMessagesView.as_view(), name="operator-chat-messages"),
    path("operator/chats/<str:chat_id>/read", views.ChatReadView.as_view(), name="operator-chat-read"),
    path("operator/messages/<int:message_id>", views.MessageView.as_view(), name="operator-message"),
    path("operator/messages/<int:message_id>/status", views.MessageStatusView.as_view(),
         name="operator-message-status"),
    path("operator/uploads", views.UploadView.as_view(), name="operator-uploads"),
    path("operator/broadcasts", views.BroadcastView.as_view(), name="operator-broadcasts"),
]
