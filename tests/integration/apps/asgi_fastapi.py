"""A FastAPI application, unmodified framework code from PyPI, for
tests/integration/test_asgi_frameworks.py: JSON, path and query parameters, validation
errors, StreamingResponse, FileResponse, background tasks, a dependency with yield, a
sync endpoint (run in FastAPI's thread pool), lifespan state and a WebSocket endpoint.

$MARKER names a file the background task and the dependency append to; $FILES_DIR holds
the files FileResponse sends.
"""
import asyncio
import os
from contextlib import asynccontextmanager
from typing import List, Optional

from fastapi import BackgroundTasks, Depends, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel


def mark(text):
    with open(os.environ["MARKER"], "a") as f:
        f.write(text + "\n")


@asynccontextmanager
async def lifespan(app):
    yield {"started_by": os.getpid()}


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float
    tags: List[str] = []


@app.get("/")
async def root():
    return {"hello": "world"}


@app.get("/plain", response_class=PlainTextResponse)
async def plain():
    return "Hello, FastAPI!"


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: Optional[str] = None):
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item):
    return {"name": item.name, "double": item.price * 2, "tags": item.tags}


@app.get("/stream")
async def stream():
    async def lines():
        for i in range(10):
            yield "line %d\n" % i
            await asyncio.sleep(0.005)

    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/file/{name}")
async def file(name: str):
    return FileResponse(os.path.join(os.environ["FILES_DIR"], name))


@app.post("/background")
async def background(tasks: BackgroundTasks):
    tasks.add_task(mark, "background ran")
    return {"queued": True}


async def resource():
    mark("dependency setup")
    try:
        yield "the resource"
    finally:
        mark("dependency teardown")


@app.get("/dependency")
async def with_dependency(r: str = Depends(resource)):
    mark("endpoint")
    return {"got": r}


@app.get("/sync")
def sync_endpoint():
    return {"sync": True}


@app.get("/state")
async def state(request: Request):
    return {"started_by": request.state.started_by}


@app.websocket("/ws/{room}")
async def chat(websocket: WebSocket, room: str):
    """Accepts with the last offered subprotocol, greets, echoes JSON with the room added,
    marks the close code when the client leaves."""
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol=offered[-1] if offered else None)
    await websocket.send_text(f"welcome to {room}")
    try:
        while True:
            data = await websocket.receive_json()
            await websocket.send_json({"room": room, **data})
    except WebSocketDisconnect as e:
        mark(f"ws closed {e.code}")
