"""Mounted at /developers/ (config/urls.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from communications.portal import console, views
from communications.portal import signup as signup_pages

PUBLIC_JSON = "developers-openapi-public-json"
DEVELOPER_JSON = "developers-openapi-developer-json"
DEVELOPER_TITLE = "SberCRM: API разработчика"

urlpatterns = [
    *[path(page.route, views.page_view, {"page": page}, name=page.name) for page in views.PAGES],
    path(signup_pages.SIGNUP.route, signup_pages.signup_page, name=signup_pages.SIGNUP.name),
    path(signup_pages.CONFIRM.route, signup_pages.signup_confirm_page, name=signup_pages.CONFIRM.name),
    path(console.CONSOLE.route, console.index_page, name=console.CONSOLE.name),
    path(console.LOGIN.route, console.login_page, name=console.LOGIN.name),
    path("console/logout/", console.logout_page, name="developers-console-logout"),
    path(console.APP.route, console.app_page, name=console.APP.name),
    path(console.SANDBOX.route, console.sandbox_page, name=console.SANDBOX.name),
    path(console.DELIVERIES.route, console.deliveries_page, name=console.DELIVERIES.name),
    path("openapi/public.json", views.schema_view, {"name": "public", "fmt": "json"}, name=PUBLIC_JSON),
    path("openapi/developer.json", views.schema_view, {"name": "developer", "fmt": "json"}, name=DEVELOPER_JSON),
    path("openapi/<str:name>.<str:fmt>", views.schema_view, name="developers-openapi"),
    path("api/swagger/", SpectacularSwaggerView.as_view(url_name=PUBLIC_JSON, title="SberCRM: публичный API"),
         name="developers-swagger"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name=PUBLIC_JSON, title="SberCRM: публичный API"),
         name="developers-redoc"),
    path("developer-api/swagger/", SpectacularSwaggerView.as_view(url_name=DEVELOPER_JSON, title=DEVELOPER_TITLE),
         name="developers-developer-swagger"),
    path("developer-api/redoc/", SpectacularRedocView.as_view(url_name=DEVELOPER_JSON, title=DEVELOPER_TITLE),
         name="developers-developer-redoc"),
]
