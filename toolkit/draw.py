"""The draw-a-digit page: a canvas in the browser, answered stroke by stroke by the
script's own compiled graph with its trained weights.

    layers = pytensor.function([X], [l1, l2, py_x], ...)   # the script's own graph
    draw.serve(layers)                                     # until Ctrl-C

The standard library serves it, on 127.0.0.1 only. The page (draw.html, beside
this file) posts each drawing as a PNG to /answer; the answer is JSON: the net's
digit, its ten probabilities, the 28 x 28 image it saw (read_digit's MNIST
preprocessing) and the feature maps of its first layers. The page only shows
what the server sent: no part of the net runs in JavaScript.
"""
import http.server
import io
import json
import os
import sys
import threading
import webbrowser
from pathlib import Path

import numpy as np

from toolkit.digits import MNISTError, read_digit
from toolkit import training

PAGE = Path(__file__).with_name("draw.html")
PORT = 8765  # the same address from run to run; a free port when it is taken
MAX_BODY = 1_000_000  # bytes: a drawn canvas is a few kB as a PNG; larger is refused unread
BODY_SECONDS = 10  # a connection that stops sending is dropped after this


class Posted(io.BytesIO):
    """A request's body as the file read_digit opens, named so in its messages (and
    in Pillow's, which name a file object by its repr)."""
    name = "the posted image"

    def __repr__(self):
        return self.name


def grey_levels(image, top=1.0):
    """An image as rows of 0..255 integers, `top` the brightest (JSON for the page)."""
    return np.round(np.clip(image / top, 0, 1) * 255).astype(int).tolist()


def answer(layers, body):
    """What the page shows for one drawing (PNG or JPEG bytes): the net's answer, its
    ten probabilities, the image it saw and each layer's feature maps, every map
    scaled by its own maximum as figures.py draws them. MNISTError for a body
    read_digit cannot read as a digit."""
    image = read_digit(Posted(body)).reshape(1, 1, 28, 28)
    *feature_maps, probabilities = layers(image)
    return {"predicted": int(np.argmax(probabilities[0])),
            "probabilities": [float(p) for p in probabilities[0]],
            "seen": grey_levels(image[0, 0]),
            "layers": [[grey_levels(m, m.max() or 1.0) for m in maps[0]]
                       for maps in feature_maps]}


class Handler(http.server.BaseHTTPRequestHandler):
    """GET / is the page and POST /answer answers a drawing; anything else is refused
    with a 4xx status (501 for a method it does not know) and a one-line reason,
    and the server goes on serving."""
    timeout = BODY_SECONDS  # on the socket: a stalled client cannot hold its thread

    def do_GET(self):
        if self.path != "/":
            return self.refuse(404, f"no page at {self.path}: the page is /")
        self.reply(200, "text/html; charset=utf-8", PAGE.read_bytes())

    def do_POST(self):
        if self.path != "/answer":
            return self.refuse(404, f"nothing to post at {self.path}: drawings go to /answer")
        length = self.headers.get("Content-Length")
        if length is None:
            return self.refuse(411, "a drawing needs a Content-Length header")
        if not (length.isascii() and length.isdigit()):  # "12", not "-5", "1e3" or "²"
            return self.refuse(400, f"Content-Length {length!r} is not a number of bytes")
        if int(length) > MAX_BODY:  # before reading a byte of it
            return self.refuse(413, f"{length} bytes is more than a drawing needs "
                                    f"(at most {MAX_BODY})")
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            return self.refuse(400, f"the body ended after {len(body)} of {length} bytes")
        try:
            with self.server.one_at_a_time:
                result = answer(self.server.layers, body)
        except MNISTError as e:
            return self.refuse(400, str(e))
        self.reply(200, "application/json", json.dumps(result).encode())

    def refuse_method(self):
        self.refuse(405, f"{self.command} is not answered here: GET / or POST /answer",
                    Allow="GET, POST")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = refuse_method

    def refuse(self, status, reason, **headers):
        self.close_connection = True  # an unread body must not be taken for a request
        self.reply(status, "text/plain; charset=utf-8", f"{reason}\n".encode(),
                   Connection="close", **headers)

    def reply(self, status, content_type, body, **headers):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (a malformed request line, an unknown method)
        in the same one line, after a status line even where the request was too
        broken to say its HTTP version."""
        self.request_version = "HTTP/1.0"
        self.refuse(code, message or self.responses[code][0])

    def log_message(self, format, *args):
        """Quiet: the terminal shows the address and how it stopped, not every stroke."""


class Server(http.server.ThreadingHTTPServer):
    """One thread a connection, so a stalled one holds up no other; the answers
    themselves one at a time (a compiled function's storage is not for two threads)."""

    def __init__(self, port, layers):
        super().__init__(("127.0.0.1", port), Handler)
        self.layers, self.one_at_a_time = layers, threading.Lock()

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a page closed mid-answer
            super().handle_error(request, client_address)


def open_server(layers, port=PORT):
    """The server on 127.0.0.1:port, or on a free port where that one is taken."""
    try:
        return Server(port, layers)
    except OSError:
        return Server(0, layers)


def someone_watching():
    """A terminal with a display: where opening a browser shows the page to a person
    (not a test, a pipe, or a server without a screen)."""
    has_display = sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return sys.stdout.isatty() and has_display


def serve(layers, port=PORT):
    """Serve the page until Ctrl-C. `layers` is a compiled function from images
    (n, 1, 28, 28) to the feature maps of the first layers and, last, the class
    probabilities (n, 10)."""
    with open_server(layers, port) as server:
        address = f"http://127.0.0.1:{server.server_port}/"
        training.ctrl_c_says(f"serving {address} (the page is closed now)")
        try:  # from the printed address on, an interrupt is this one line
            print(f"draw a digit at {address} (Ctrl-C stops)", flush=True)
            if someone_watching():
                webbrowser.open(address)
            server.serve_forever()
        except KeyboardInterrupt:  # a notebook's interrupt; a terminal's is training's one line
            print(f"stopped serving {address}", flush=True)
