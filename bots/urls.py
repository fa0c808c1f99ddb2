from django.urls import path

from bots import views

app_name = "bots"
urlpatterns = [
    path("telegram/webhook", views.telegram_webhook, name="telegram-webhook"),
    path("vk/callback", views.vk_callback, name="vk-callback"),
]
