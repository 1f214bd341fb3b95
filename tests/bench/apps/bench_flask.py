"""The Flask scenario for tests/bench/run.py: one JSON endpoint, as a typical API would
answer it (routing, a request context, jsonify). Import as `bench_flask:app`."""

from flask import Flask, jsonify, request

app = Flask(__name__)

ITEMS = [{"id": i, "name": "item-%d" % i, "price": i * 1.25} for i in range(10)]


@app.route("/json")
def json_endpoint():
    return jsonify(status="ok", path=request.path, count=len(ITEMS), items=ITEMS)
