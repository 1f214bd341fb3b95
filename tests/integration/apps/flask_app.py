"""A real Flask application for the integration suite (`flask_app:app`)."""
import os

from flask import Flask, jsonify, request

app = Flask(__name__)

ITEMS = [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}]


@app.get("/api/items")
def items():
    return jsonify(items=ITEMS, pid=os.getpid())


@app.post("/api/sum")
def sum_numbers():
    data = request.get_json()
    return jsonify(sum=sum(data["numbers"]), count=len(data["numbers"]), echo=data)


@app.get("/api/missing")
def missing():
    return jsonify(error="nope"), 404
