"""The draw-a-digit page: a canvas in the browser, answered stroke by stroke by the
script's own compiled graph with its trained weights.

    layers = pytensor.function([X], [l1, l2, py_x], ...)   # the script's own graph
    draw.serve(layers)                                     # until Ctrl-C

The standard library serves it, on 127.0.0.1 only. The page (draw.html, beside
this file) posts each drawing as a PNG to /answer; the answer is JSON: the net's
digit, its ten probabilities, the 28 x 28 image it saw (read_digit's MNIST
preprocessing) and the feature maps of its first layers. The page only shows
what the server sent: no part of the net runs in JavaScript.

It answers this machine's own page only: a request naming another Host (a web
page that points its own name at 127.0.0.1, "DNS rebinding") or posted from
another origin is refused. A classroom posting at once is served in turn (the
listen backlog and the workers are sized for it), and no request can cost more
than a bounded time and memory: REQUEST_SECONDS, MAX_BODY and MAX_PIXELS.
"""
import http.server
import io
import json
import os
import socket
import sys
import threading
import time
import warnings
import webbrowser
from pathlib import Path

import numpy as np

from toolkit.digits import MNISTError, read_digit
from toolkit import training

PAGE = Path(__file__).with_name("draw.html")
PORT = 8765  # the same address from run to run; a free port when it is taken
MAX_BODY = 1_000_000  # bytes: a drawn canvas is a few kB as a PNG; larger is refused unread
# The page's canvas is 420 x 420. A posted picture is decoded whole and read_digit
# keeps a few copies of it: about 33 bytes a pixel at most (measured: a transparent
# PNG all ink), so 2 megapixels cost the server 66 MB. A larger one (a 62 kB PNG
# can say 49 megapixels, 1.3 GB decoded) is refused from its header.
MAX_PIXELS = 2_000_000
REQUEST_SECONDS = 5  # to send the whole request, and for each write of the reply
WORKERS = 16  # connections served at once; the answers themselves go one at a time
BACKLOG = 64  # connections waiting for a worker: a class of 50 posting at once


class Posted(io.BytesIO):
    """A request's body as the file read_digit opens, named so in its messages (and
    in Pillow's, which name a file object by its repr)."""
    name = "the posted image"

    def __repr__(self):
        return self.name


def grey_levels(image, top=1.0):
    """An image as rows of 0..255 integers, `top` the brightest (JSON for the page)."""
    return np.round(np.clip(image / top, 0, 1) * 255).astype(int).tolist()


def check_size(body):
    """MNISTError for a posted picture of more than MAX_PIXELS, read from its header
    alone. What else is wrong with a body read_digit says in its own words."""
    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(Posted(body)) as image:  # the header: no pixel decoded yet
                width, height = image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return  # not a picture, or one Pillow itself finds too large: read_digit says
    if width * height > MAX_PIXELS:
        raise MNISTError(f"{Posted.name}: too large: {width} x {height} = "
                         f"{width * height} pixels, the page takes at most {MAX_PIXELS}; "
                         f"scale it down")


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


class Deadline(socket.SocketIO):
    """A connection read as a file whose reads all together may take `seconds`: a
    client that sends a byte now and then holds its worker no longer than that."""

    def __init__(self, connection, seconds):
        super().__init__(connection, "rb")
        self.connection, self.end = connection, time.monotonic() + seconds

    def readinto(self, buffer):
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the request took more than {REQUEST_SECONDS} s")
        self.connection.settimeout(left)
        return super().readinto(buffer)


class Handler(http.server.BaseHTTPRequestHandler):
    """GET / is the page and POST /answer answers a drawing; anything else is refused
    with a 4xx status (501 for a method it does not know) and a one-line reason,
    and the server goes on serving. One request a connection (HTTP/1.0's way)."""

    def setup(self):
        super().setup()
        self.rfile.close()  # a per-read timeout only: a byte now and then kept it open
        self.rfile = io.BufferedReader(Deadline(self.connection, REQUEST_SECONDS))

    def parse_request(self):
        """http.server's reading of the request line and headers; then a request
        from anywhere but this server's own page is refused before it is served."""
        if not super().parse_request():
            return False
        refusal = self.foreign()
        if refusal:
            self.refuse(403, refusal)
        return not refusal

    def foreign(self):
        """Why the request is not from this machine's own page, or None. A browser
        names the server as the page's address had it in Host: another name is a
        page elsewhere whose name now points here (DNS rebinding). And it says
        where a POST comes from (a page elsewhere may post text/plain with no
        preflight): Origin, and in newer browsers Sec-Fetch-Site too."""
        host = self.headers.get("Host", "").lower()
        if host not in self.server.hosts:
            return (f"Host {host!r} is not this server: open "
                    f"http://127.0.0.1:{self.server.server_port}/")
        if self.command != "POST":
            return None  # a link from elsewhere may open the page; reading it is all
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            return f"a drawing posted from {origin!r}: only http://{host}/ posts here"
        site = self.headers.get("Sec-Fetch-Site")
        if site not in (None, "same-origin"):
            return f"a drawing posted from another site (Sec-Fetch-Site: {site})"
        return None

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
        try:
            body = self.rfile.read(int(length))
        except TimeoutError:  # fewer bytes than promised, and the connection left open
            return self.refuse(408, f"the body did not reach its Content-Length of {length} "
                                    f"bytes in {REQUEST_SECONDS} s")
        if len(body) < int(length):
            return self.refuse(400, f"the body ended after {len(body)} of {length} bytes")
        try:
            check_size(body)
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
        self.connection.settimeout(REQUEST_SECONDS)  # a client not reading it is dropped
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
    """A thread a connection, at most WORKERS at once, so a stalled connection holds
    up no other; the answers themselves one at a time (a compiled function's storage
    is not for two threads, and one decoded picture at a time bounds the memory)."""
    request_queue_size = BACKLOG  # listen()'s: more, and a connection is refused

    def __init__(self, port, layers):
        super().__init__(("127.0.0.1", port), Handler)
        self.layers, self.one_at_a_time = layers, threading.Lock()
        self.workers = threading.BoundedSemaphore(WORKERS)
        self.hosts = {f"127.0.0.1:{self.server_port}", f"localhost:{self.server_port}"}

    def process_request(self, request, client_address):
        self.workers.acquire()  # all busy: this waits, and new connections in the backlog
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.workers.release()

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
