"""A Flask app that reads its request bodies as the gateway does (api.bodies), and says
how many bytes it read: a server's own behaviour under test, down to the app."""

from __future__ import annotations

from flask import Flask, request

from api import bodies
from api.http_framing import MAX_BODY

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
bodies.init_app(app)


@app.route("/", methods=["GET", "POST"])
def read() -> str:
    return f"read {len(request.get_data())}"
