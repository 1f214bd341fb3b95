import hashlib
import json
import os

from django.conf import settings
from django.http import FileResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from .models import Item


@csrf_exempt
def items(request):
    if request.method == "POST":
        data = json.loads(request.body)
        item = Item.objects.create(name=data["name"], price=data["price"])
        return JsonResponse({"id": item.pk, "name": item.name}, status=201)
    rows = [{"id": i.pk, "name": i.name, "price": str(i.price)}
            for i in Item.objects.order_by("pk")]
    return JsonResponse({"items": rows})


@csrf_exempt
def upload(request):
    out = {}
    for name, f in request.FILES.items():
        h = hashlib.sha256()
        for chunk in f.chunks():
            h.update(chunk)
        out[name] = {"name": f.name, "size": f.size, "sha256": h.hexdigest()}
    return JsonResponse({"files": out, "fields": request.POST.dict()})


def download(request, name):
    return FileResponse(open(os.path.join(settings.FILES_DIR, name), "rb"),
                        as_attachment=True)


def stream(request):
    n = int(request.GET.get("n", "5"))
    return StreamingHttpResponse((f"line {i}\n" for i in range(n)), content_type="text/plain")


def whoami(request):
    return JsonResponse({"user": request.user.get_username(), "secure": request.is_secure(),
                         "script_name": request.META["SCRIPT_NAME"], "path": request.path})
