"""A Flask application, written the way Flask's documentation writes one, served by
tests/integration/test_wsgi_frameworks.py (`flask_site:app`; `flask_site:validated` is
the same behind wsgiref.validate.validator).

FILES_DIR (set with --env) is where /download/<name> sends files from.
"""
import hashlib
import os
import warnings
from wsgiref.validate import WSGIWarning, validator

from flask import (Flask, Response, jsonify, request, send_from_directory,
                   stream_with_context, url_for)

warnings.simplefilter("error", WSGIWarning)

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = None

NOTES = []


@app.get("/api/notes")
def list_notes():
    return jsonify(notes=NOTES, count=len(NOTES))


@app.post("/api/notes")
def add_note():
    data = request.get_json(force=True)
    NOTES.append({"id": len(NOTES) + 1, "text": data["text"]})
    return jsonify(NOTES[-1]), 201


@app.post("/form")
def form():
    return jsonify(fields=request.form.to_dict(flat=False), ctype=request.mimetype)


@app.post("/upload")
def upload():
    out = {}
    for name, f in request.files.items():
        h = hashlib.sha256()
        size = 0
        while chunk := f.stream.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
        out[name] = {"filename": f.filename, "size": size, "sha256": h.hexdigest()}
    return jsonify(files=out, fields=request.form.to_dict())


@app.get("/stream")
def stream():
    count = request.args.get("n", 5, type=int)

    @stream_with_context
    def generate():
        for i in range(count):
            yield f"row {i} of {request.args.get('n', 5)}\n"

    return Response(generate(), mimetype="text/plain")


@app.get("/download/<path:name>")
def download(name):
    return send_from_directory(os.environ["FILES_DIR"], name)


@app.get("/urls")
def urls():
    return jsonify(external=url_for("list_notes", _external=True),
                   script_root=request.script_root, scheme=request.scheme,
                   remote_addr=request.remote_addr)


def _unterminated(wsgi_app):
    """wsgiref.validate insists that wsgi.input.read() is given a size, and werkzeug reads
    a stream that the server marks wsgi.input_terminated without one. Behind the
    validator, the stream is presented as PEP 3333's plain one (no such key), which
    werkzeug reads through its LimitedStream, with sizes."""
    def middleware(environ, start_response):
        environ.pop("wsgi.input_terminated", None)
        return wsgi_app(environ, start_response)

    return middleware


validated = _unterminated(validator(app))
