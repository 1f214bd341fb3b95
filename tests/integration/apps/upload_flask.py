"""A Flask application for the front-end transports (`upload_flask:app`): what the request
looked like to it, a form echoed, and an upload's size and sha256 read in pieces."""
import hashlib

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/q")
def query():
    return jsonify(args=request.args.to_dict(flat=False), path=request.path,
                   scheme=request.scheme, remote=request.remote_addr,
                   script_root=request.script_root, host=request.host)


@app.post("/form")
def form():
    return jsonify(form=request.form.to_dict(flat=False))


@app.post("/upload")
def upload():
    digest, size = hashlib.sha256(), 0
    stream = request.stream
    while True:
        piece = stream.read(1 << 20)
        if not piece:
            break
        digest.update(piece)
        size += len(piece)
    return jsonify(size=size, sha256=digest.hexdigest())
