"""A one-file Django project for tests/unit/python_bridge/wsgi_test.c (needs the .venv)."""
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="unit-test",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def hello(request, name):
    return HttpResponse(
        "%s %s %s q=%s x=%s body=%s"
        % (
            request.method,
            request.path,
            name,
            request.GET.get("q"),
            request.headers.get("X-Thing"),
            request.body.decode(),
        ),
        content_type="text/plain; charset=utf-8",
    )


def stream(request):
    return StreamingHttpResponse((b"part%d;" % i for i in range(3)), content_type="text/plain")


urlpatterns = [path("hello/<str:name>", hello), path("stream", stream)]

application = get_wsgi_application()
