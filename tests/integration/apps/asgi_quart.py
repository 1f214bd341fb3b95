"""A Quart application (Flask's API on ASGI), unmodified framework code from PyPI."""
from quart import Quart, jsonify, request

app = Quart(__name__)


@app.route("/")
async def index():
    return "Hello, Quart!"


@app.route("/json", methods=["POST"])
async def echo_json():
    data = await request.get_json()
    return jsonify(echo=data, method=request.method)


@app.route("/stream")
async def stream():
    async def chunks():
        for i in range(3):
            yield b"part %d\n" % i

    return chunks(), 200, {"Content-Type": "text/plain"}


@app.route("/user/<name>")
async def user(name):
    return jsonify(user=name, args=dict(request.args))
