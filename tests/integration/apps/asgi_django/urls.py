import asyncio

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path


async def hello(request):
    return JsonResponse({"hello": "django", "path": request.path, "scheme": request.scheme})


def sync_view(request):
    return HttpResponse(b"sync view\n", content_type="text/plain")


async def echo(request):
    return HttpResponse(request.body, content_type="application/octet-stream")


async def stream(request):
    async def parts():
        for i in range(4):
            yield b"piece %d\n" % i
            await asyncio.sleep(0)

    return StreamingHttpResponse(parts(), content_type="text/plain")


urlpatterns = [
    path("", hello),
    path("sync", sync_view),
    path("echo", echo),
    path("stream", stream),
]
