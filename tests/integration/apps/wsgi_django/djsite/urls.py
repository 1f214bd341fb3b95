from django.contrib import admin
from django.urls import path

from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("items/", views.items),
    path("upload/", views.upload),
    path("download/<str:name>", views.download),
    path("stream/", views.stream),
    path("whoami/", views.whoami),
]
