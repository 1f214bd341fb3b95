"""The FastAPI scenarios for tests/bench/run.py --only asgi: a JSON endpoint answering a
small pydantic model (routing, validation of the response model, serialisation), and a
FileResponse of the 1 MiB file the harness creates (BENCH_FILE_1M, see bench_wsgi.py).
Import as `bench_fastapi:app`; the same file for every server.
"""

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from bench_wsgi import FILE_1M

app = FastAPI()


class Item(BaseModel):
    id: int
    name: str
    price: float


class Listing(BaseModel):
    status: str
    path: str
    count: int
    items: list[Item]


ITEMS = [Item(id=i, name="item-%d" % i, price=i * 1.25) for i in range(10)]


@app.get("/json", response_model=Listing)
async def json_endpoint(request: Request):
    # the same document as bench_flask.py's /json
    return Listing(status="ok", path=request.url.path, count=len(ITEMS), items=ITEMS)


@app.get("/file")
async def file_endpoint():
    return FileResponse(FILE_1M, media_type="application/octet-stream")
