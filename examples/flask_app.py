"""A tiny Flask application served by uwsgi-fast.

    pip install Flask
    uwsgi-fast --chdir examples flask_app:app

    curl http://127.0.0.1:8000/
    curl http://127.0.0.1:8000/api/greet?name=Ada
    curl -X POST -H 'Content-Type: application/json' -d '{"a": 1}' http://127.0.0.1:8000/api/echo
"""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask on uwsgi-fast!\n"


@app.get("/api/greet")
def greet():
    name = request.args.get("name", "World")
    return jsonify(greeting=f"Hello, {name}!")


@app.post("/api/echo")
def echo():
    data = request.get_json(silent=True)
    if data is None:
        return jsonify(error="expected a JSON body"), 400
    return jsonify(received=data)
