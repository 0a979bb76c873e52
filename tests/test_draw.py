"""The draw-a-digit page, as the README starts it (`5_convolutional_net.py --params
results/cnn.npz --draw`): a real browser draws strokes on the page's canvas with
the mouse and reads the trained net's answer, its bars, its feature maps and the
28 x 28 image it saw; bad requests are refused and the server serves on; Ctrl-C
ends it in one line.

The browser is Debian's chromium driven by Playwright for Python; where either is
missing the browser tests skip, unless CI_REQUIRE_BROWSER=1 (.ci/run) makes that a
failure. DRAW_SCREENSHOT=PATH saves the page after a drawn 7 (the README's picture)."""
import base64
import concurrent.futures
import contextlib
import io
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, default_sigint, err_lines, names, run_script
from toolkit.digits import read_digit
from toolkit import draw

SCRIPT = "5_convolutional_net.py"
README_COMMAND = f"python {SCRIPT} --params results/cnn.npz --draw"
COMMAND = [sys.executable, str(ROOT / SCRIPT), *README_COMMAND.split()[2:]]
ADDRESS = r"draw a digit at (http://127\.0\.0\.1:\d+/)"
GUARD_MS = 300_000  # Playwright's waits end in a failure after this, not in a hang
GUARD_S = 120  # and every other wait: for a line, a reply, a child to end
CHROMIUM = Path("/usr/bin/chromium")
# headless, and nothing that reaches for a network: this machine has none
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic",
                 "--host-resolver-rules=MAP evil.example 127.0.0.1"]  # DNS rebinding, done


needs_proc = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                                reason="measures a process through Linux's /proc")
STARTED = []  # every child this module starts: none may outlive it


@contextlib.contextmanager
def child(command, stderr):
    """A child process with SIGINT as a terminal gives it, killed and reaped on
    leaving, whatever happened; its stdout's lines arrive in proc.lines (a thread
    reads them, so no wait for a line is without a deadline)."""
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
                            text=True, preexec_fn=default_sigint)
    STARTED.append(proc)
    proc.lines = queue.Queue()
    threading.Thread(target=lambda: [*map(proc.lines.put, proc.stdout), proc.lines.put(None)],
                     daemon=True).start()
    try:
        yield proc
    finally:
        proc.kill()  # nothing, where it has ended
        proc.wait(timeout=GUARD_S)


@pytest.fixture(scope="module", autouse=True)
def no_child_left():
    yield
    assert all(proc.returncode is not None for proc in STARTED), "a child outlived its test"


def printed_address(proc):
    """The address the child printed, read within GUARD_S."""
    deadline = time.monotonic() + GUARD_S
    while True:
        try:
            line = proc.lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise AssertionError(f"no {ADDRESS!r} after {GUARD_S} s") from None
        if line is None:
            raise AssertionError(f"the child ended (exit {proc.wait(GUARD_S)}) "
                                 f"before printing {ADDRESS!r}")
        if re.match(ADDRESS, line):
            return line.split(" at ")[1].split()[0]


@contextlib.contextmanager
def serving(stderr):
    """The README's command serving; the process and the address it printed."""
    with child(COMMAND, stderr) as proc:
        yield proc, printed_address(proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The script serving its page for this module's tests: its address and its
    stderr so far (a file, so a full pipe never stalls the server)."""
    stderr_path = tmp_path_factory.mktemp("draw") / "stderr"
    with open(stderr_path, "w") as stderr, serving(stderr) as (proc, address):
        yield address, stderr_path, proc


# --- in a browser ---------------------------------------------------------------------

def browser_or_skip():
    """Playwright's sync API; a one-line skip where it or the browser is missing,
    a failure instead where CI_REQUIRE_BROWSER=1."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"no {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            from playwright import sync_api
        except ImportError:
            missing = "no Playwright for Python (pip install playwright)"
    if missing and os.environ.get("CI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{missing}, and CI_REQUIRE_BROWSER=1 requires the browser test")
    if missing:
        pytest.skip(missing)
    return sync_api


def test_a_missing_browser_skips_here_and_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("CI_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        browser_or_skip()
    monkeypatch.setenv("CI_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="CI_REQUIRE_BROWSER=1"):
        browser_or_skip()


@pytest.fixture(scope="module")
def browser():
    sync_api = browser_or_skip()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """The page, freshly opened at the address the script printed; a projector's size."""
    address, *_ = server
    page = browser.new_page(viewport={"width": 1440, "height": 860})
    page.set_default_timeout(GUARD_MS)
    page.goto(address)
    yield page
    page.close()


def draw_strokes(page, *strokes):
    """Each stroke a list of points (x, y) from 0 to 1 across the canvas, drawn with
    the mouse, button down from the first point to the last; then wait until the
    page shows the answer to the drawing with every stroke (each stroke is sent)."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        x, y = zip(*stroke)
        points = list(zip(box["x"] + np.array(x) * box["width"],
                          box["y"] + np.array(y) * box["height"]))
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=4)
        page.mouse.up()
    page.wait_for_function(f"document.getElementById('answer').dataset.answered === "
                           f"'{len(strokes)}'")


def line(start, end, n=12):
    return list(zip(np.linspace(start[0], end[0], n), np.linspace(start[1], end[1], n)))


ONE = [line((0.5, 0.15), (0.5, 0.85))]  # a vertical stroke
ZERO = [[(0.5 + 0.22 * np.sin(t), 0.5 - 0.33 * np.cos(t))
         for t in np.linspace(0, 2 * np.pi, 40)]]  # a closed loop
SEVEN = [line((0.28, 0.2), (0.72, 0.2)), line((0.72, 0.2), (0.42, 0.85))]  # two strokes


def bars(page):
    """The bars as the page shows them: digit, probability and drawn width in pixels."""
    return page.eval_on_selector_all(".bar", """bars => bars.map(bar => [
        Number(bar.dataset.digit), Number(bar.dataset.value),
        bar.querySelector('.fill').getBoundingClientRect().width])""")


# a canvas's pixels as the page painted them, the red of each (grey levels: all of it)
RED = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data" \
      ".filter((_, i) => i % 4 === 0))"


def pixels(page, selector):
    """The red levels of the canvas at selector."""
    return np.array(page.eval_on_selector(selector, RED))


def feature_maps(page):
    """Each layer's maps as the page painted them: red levels, one list a map."""
    return page.eval_on_selector_all(
        "#layers .maps", f"grids => grids.map(g => Array.from(g.querySelectorAll('canvas'))"
                         f".map({RED}))")


@pytest.mark.parametrize("strokes, digit", [(ONE, 1), (ZERO, 0)], ids=["one", "zero"])
def test_a_drawn_digit_is_read_right(page, strokes, digit):
    draw_strokes(page, *strokes)
    assert page.locator("#answer").inner_text() == f"predicted: {digit}"
    shown = bars(page)
    assert [d for d, _, _ in shown] == list(range(10))
    probabilities, widths = [p for _, p, _ in shown], [w for _, _, w in shown]
    assert np.argmax(probabilities) == digit and np.argmax(widths) == digit
    assert abs(sum(probabilities) - 1) < 1e-3


def test_the_page_shows_the_image_the_net_saw_and_the_feature_maps(page):
    draw_strokes(page, *ZERO)
    drawn = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    as_mnist = read_digit(io.BytesIO(base64.b64decode(drawn.split(",")[1])))
    seen = pixels(page, "#seen")
    assert seen.shape == (784,) and seen.max() > 200  # the digit, light on black
    assert np.abs(seen - np.round(as_mnist * 255)).max() <= 1  # read_digit's own image
    titles = page.locator("#layers h3").all_inner_texts()
    assert len(titles) == 2 and all("maps" in title for title in titles)
    for maps in feature_maps(page):  # the first layer's, the second's
        assert len(maps) > 1 and max(max(m) for m in maps) > 100  # some map lights up


def test_a_seven_in_two_strokes_and_the_screenshot(page):
    draw_strokes(page, *SEVEN)
    assert page.locator("#answer").inner_text() == "predicted: 7"
    if os.environ.get("DRAW_SCREENSHOT"):
        page.screenshot(path=os.environ["DRAW_SCREENSHOT"], full_page=True)


def test_clear_empties_the_canvas_and_the_answer(page):
    inked = "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data" \
            ".filter(v => v < 255).length"  # counted in the page: the canvas is large
    draw_strokes(page, *ONE)
    assert page.eval_on_selector("#pad", inked) > 0
    page.click("#clear")
    assert page.locator("#answer").inner_text() == "draw a digit"
    assert page.eval_on_selector("#pad", inked) == 0  # white paper again
    assert max(p for _, p, _ in bars(page)) == 0


def test_a_page_elsewhere_gets_neither_the_page_nor_an_answer(browser, server):
    """The browser takes evil.example to be 127.0.0.1, as after DNS rebinding: the
    server's page is not served under that name, and a drawing posted from that
    page (text/plain: no preflight) gets no answer."""
    address, *_ = server
    port = host(address).split(":")[1]
    page = browser.new_page()
    page.set_default_timeout(GUARD_MS)
    try:
        response = page.goto(f"http://evil.example:{port}/")
        assert response.status == 403 and page.locator("#pad").count() == 0
        with page.expect_response(f"{address}answer") as posted:
            page.evaluate("""([address, seven]) => fetch(address + "answer", {method: "POST",
                mode: "no-cors", headers: {"Content-Type": "text/plain"},
                body: new Uint8Array(seven)})""", [address, list(SEVEN_PNG)])
        assert posted.value.status == 403
    finally:
        page.close()


# --- bad requests, no browser needed ----------------------------------------------------

def host(address):
    return address.split("//")[1].strip("/")


def connect(address):
    name, port = host(address).split(":")
    return socket.create_connection((name, int(port)), timeout=GUARD_S)


def reply_to(connection):
    """The reply's status and body, read to the end; AssertionError where the
    server closed the connection without one."""
    reply = b"".join(iter(lambda: connection.recv(65536), b""))
    assert reply, "no reply: the server dropped the connection"
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def send(address, request):
    """A raw HTTP request, sent whole, $HOST in it the server's own; the reply's
    status and body."""
    with connect(address) as connection:
        connection.sendall(request.replace(b"$HOST", host(address).encode()))
        connection.shutdown(socket.SHUT_WR)
        return reply_to(connection)


def png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def claiming(width, height):
    """A PNG of a few bytes whose header says width x height: a decompression bomb."""
    data = bytearray(png(Image.new("L", (1, 1))))
    data[16:24] = struct.pack(">II", width, height)  # in IHDR, the first chunk
    data[29:33] = struct.pack(">I", zlib.crc32(data[12:29]))  # its checksum to match
    return bytes(data)


def post(body, length=None, headers=b"Host: $HOST\r\n"):
    length = len(body) if length is None else length
    return b"POST /answer HTTP/1.1\r\n%bContent-Length: %b\r\n\r\n%b" % (
        headers, str(length).encode("latin-1"), body)


SEVEN_PNG = (ROOT / "data" / "digits" / "7.png").read_bytes()
# what a page elsewhere sends: a "simple" request, which a browser posts without asking first
FROM_ELSEWHERE = b"Host: $HOST\r\nContent-Type: text/plain\r\nOrigin: http://evil.example\r\n"

BAD = {
    "not an image": (post(b"this is not a picture"), 400, "not a PNG or JPEG"),
    "one colour": (post(png(Image.new("L", (40, 30), 230))), 400, "all one colour"),
    "decompression bomb": (post(claiming(30000, 30000)), 400, "too large"),
    "more pixels than the page takes": (post(claiming(draw.MAX_PIXELS + 1, 1)), 400,
                                        str(draw.MAX_PIXELS)),
    # only the header: a server that waited for the body would get an ended one (400)
    "oversized": (post(b"", length=draw.MAX_BODY + 1), 413, str(draw.MAX_BODY)),
    "body cut short": (post(b"0123456789", length=1000), 400, "10 of 1000"),
    "length not a number": (post(b"", length="many"), 400, "Content-Length"),
    "length a superscript": (post(b"", length="\u00b2"), 400, "Content-Length"),
    "no length": (b"POST /answer HTTP/1.1\r\nHost: $HOST\r\n\r\n", 411, "Content-Length"),
    "malformed": (b"NOT AN HTTP REQUEST\r\n\r\n", 400, "request"),
    "unknown page": (b"GET /secrets HTTP/1.1\r\nHost: $HOST\r\n\r\n", 404, "/secrets"),
    "posted elsewhere": (b"POST /upload HTTP/1.1\r\nHost: $HOST\r\nContent-Length: 0\r\n\r\n",
                         404, "/answer"),
    "wrong method": (b"PUT /answer HTTP/1.1\r\nHost: $HOST\r\nContent-Length: 0\r\n\r\n",
                     405, "PUT"),
    # DNS rebinding: a page at evil.example whose name now points at 127.0.0.1
    "the page for another host": (b"GET / HTTP/1.1\r\nHost: evil.example:8765\r\n\r\n",
                                  403, "evil.example"),
    "an answer for another host": (post(SEVEN_PNG, headers=b"Host: evil.example\r\n"),
                                   403, "evil.example"),
    "no host": (b"GET / HTTP/1.0\r\n\r\n", 403, "Host"),
    "the right port of another host": (b"GET / HTTP/1.1\r\nHost: $HOST.evil.example\r\n\r\n",
                                       403, "evil.example"),
    "posted from another origin": (post(SEVEN_PNG, headers=FROM_ELSEWHERE), 403,
                                   "evil.example"),
    "posted from another site": (post(SEVEN_PNG, headers=b"Host: $HOST\r\n"
                                      b"Sec-Fetch-Site: cross-site\r\n"), 403, "cross-site"),
    "posted from the other name": (post(SEVEN_PNG, headers=b"Host: $HOST\r\n"
                                        b"Origin: http://localhost:1\r\n"), 403, "localhost:1"),
}


def good_answer(address, image):
    request = urllib.request.Request(address + "answer", data=image.read_bytes(),
                                     headers={"Content-Type": "image/png"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.load(reply)


@pytest.mark.parametrize("case", BAD)
def test_a_bad_request_gets_an_error_and_the_server_serves_on(server, case):
    address, stderr, _ = server
    request, expected_status, named = BAD[case]
    status, reason = send(address, request)
    assert status == expected_status
    assert len(err_lines(reason)) == 1, reason  # one line: no page, no answer
    names(reason, named)
    assert good_answer(address, ROOT / "data" / "digits" / "3.png")["predicted"] == 3
    assert "Traceback" not in stderr.read_text()


def test_a_good_request_answers_with_everything_the_page_shows(server):
    address, *_ = server
    with urllib.request.urlopen(address, timeout=60) as page:
        assert b'<canvas id="pad"' in page.read()
    reply = good_answer(address, ROOT / "data" / "digits" / "7.png")
    assert reply["predicted"] == 7 and np.argmax(reply["probabilities"]) == 7
    assert np.array(reply["seen"]).shape == (28, 28)
    assert [np.array(layer).ndim for layer in reply["layers"]] == [3, 3]  # maps x rows x columns


def test_its_own_page_and_a_tool_on_this_machine_are_answered(server):
    """As the page posts (Origin and Sec-Fetch-Site its own), by either name of the
    address, and as curl or a script does (neither header)."""
    address, *_ = server
    port = host(address).split(":")[1]
    for name in "127.0.0.1", "localhost", "LOCALHOST":
        status, page = send(address, f"GET / HTTP/1.1\r\nHost: {name}:{port}\r\n\r\n".encode())
        assert status == 200 and '<canvas id="pad"' in page
        own = f"Host: {name}:{port}\r\nOrigin: http://{name.lower()}:{port}\r\n" \
              f"Sec-Fetch-Site: same-origin\r\n".encode()
        for headers in own, f"Host: {name}:{port}\r\n".encode():
            status, reply = send(address, post(SEVEN_PNG, headers=headers))
            assert status == 200 and json.loads(reply)["predicted"] == 7


CLASS = 50  # learners posting at once


def listen_overflows():
    """How many connections this machine's listening sockets have dropped for a full
    backlog (Linux's count; the client tries again a second later, or is reset)."""
    names, values = [line.split() for line in
                     Path("/proc/net/netstat").read_text().splitlines()[:2]]
    return int(dict(zip(names, values))["ListenOverflows"])


@needs_proc
def test_a_class_posting_at_once_all_get_their_answers(server):
    """50 connections at once, each a digit's PNG: each gets the answer that picture
    gets alone (no connection refused or reset, no answer mixed up), in bounded time."""
    address, *_ = server
    pictures = [(ROOT / "data" / "digits" / f"{i % 10}.png").read_bytes() for i in range(CLASS)]
    alone = {picture: send(address, post(picture)) for picture in set(pictures)}
    together = threading.Barrier(CLASS, timeout=GUARD_S)

    def learner(picture):
        request = post(picture).replace(b"$HOST", host(address).encode())
        together.wait()
        start = time.monotonic()
        with connect(address) as connection:
            connected = time.monotonic() - start
            connection.sendall(request)
            return reply_to(connection), connected

    start, overflows = time.monotonic(), listen_overflows()
    with concurrent.futures.ThreadPoolExecutor(CLASS) as pool:  # each socket's waits end
        replies, connected = zip(*pool.map(learner, pictures, timeout=GUARD_S))
    print(f"{CLASS} posting at once: answered in {time.monotonic() - start:.2f} s, "
          f"connected in {max(connected):.2f} s, {listen_overflows() - overflows} overflows")
    assert list(replies) == [alone[picture] for picture in pictures]
    assert all(status == 200 for status, _ in replies)
    assert listen_overflows() == overflows  # none waited for a second try, none was reset


@needs_proc
def test_connections_that_send_nothing_hold_at_most_the_workers(server):
    """Twice as many idle connections as workers: the server starts no more threads
    than its workers (the rest wait in the backlog), and serves on once they go."""
    address, _, proc = server
    status = Path(f"/proc/{proc.pid}/status")

    def threads():
        return int(re.search(r"^Threads:\s+(\d+)", status.read_text(), re.M)[1])
    before = threads()
    with contextlib.ExitStack() as idle:
        for _ in range(2 * draw.WORKERS):
            idle.enter_context(connect(address))
        deadline, most = time.monotonic() + GUARD_S, 0
        while most < before + draw.WORKERS and time.monotonic() < deadline:
            most = max(most, threads())  # until every worker holds a connection
            time.sleep(0.01)
        time.sleep(0.5)  # and then no more
        most = max(most, threads())
    assert most == before + draw.WORKERS
    assert good_answer(address, ROOT / "data" / "digits" / "3.png")["predicted"] == 3


def test_a_body_short_of_its_length_gets_a_4xx_within_seconds(server):
    """The client keeps its connection open, waiting: the server answers by itself."""
    address, *_ = server
    with connect(address) as connection:
        connection.sendall(post(b"0123456789", length=1000).replace(
            b"$HOST", host(address).encode()))
        start = time.monotonic()
        status, reason = reply_to(connection)
        waited = time.monotonic() - start
    print(f"a short body waited {waited:.2f} s for its {status}")
    assert status == 408 and waited < draw.REQUEST_SECONDS + 3
    names(reason, "1000", f"{draw.REQUEST_SECONDS} s")


def test_a_client_sending_a_byte_now_and_then_is_dropped_in_the_stated_time(server):
    """A byte every half second never leaves the socket idle for long, and a
    request of a few kB would take many minutes: it is cut off at REQUEST_SECONDS."""
    address, *_ = server
    request = post(SEVEN_PNG).replace(b"$HOST", host(address).encode())
    with connect(address) as connection:
        start = time.monotonic()
        for byte in request:
            held = time.monotonic() - start
            assert held < draw.REQUEST_SECONDS + 10, f"still connected after {held:.1f} s"
            try:
                connection.sendall(bytes([byte]))
                connection.settimeout(0.5)
                connection.recv(1)  # the server's 408 or its close, or half a second
                break
            except TimeoutError:
                continue  # still connected: the next byte
            except ConnectionError:
                break
        held = time.monotonic() - start
    print(f"a slow client was dropped after {held:.2f} s")
    assert held < draw.REQUEST_SECONDS + 3


def memory_of(pid, action):
    """What `action()` returns, and the most memory the process pid used meanwhile
    above what it used before (MB of resident set; Linux's clear_refs resets its peak)."""
    status = Path(f"/proc/{pid}/status")

    def kb(field):
        return int(re.search(rf"^{field}:\s+(\d+) kB", status.read_text(), re.M)[1])
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = kb("VmRSS")
    result = action()
    return result, (kb("VmHWM") - before) / 1024


def all_ink(width, height):
    """The picture that costs read_digit the most a pixel (a transparent PNG whose
    every pixel inside its frame is ink, of several levels), a few kB as a PNG."""
    alpha = np.full((height, width), 255, np.uint8)
    alpha[1:-1, 1:-1] -= (np.indices((height - 2, width - 2)).sum(0) % 7 * 20).astype(np.uint8)
    alpha[[0, -1]] = alpha[:, [0, -1]] = 0  # the frame: paper
    black = np.zeros((height, width), np.uint8)
    return png(Image.fromarray(np.dstack([black, black, black, alpha]), "RGBA"))


@needs_proc
def test_the_largest_picture_taken_costs_bounded_memory(server):
    address, _, proc = server
    picture = all_ink(draw.MAX_PIXELS // 1000, 1000)
    assert len(picture) < draw.MAX_BODY
    (status, _), mb = memory_of(proc.pid, lambda: send(address, post(picture)))
    print(f"the largest picture taken, {draw.MAX_PIXELS} pixels: {mb:.0f} MB at its peak")
    assert status == 200
    assert mb < draw.MAX_PIXELS * 50 / 2**20  # 33 bytes a pixel measured


@needs_proc
def test_a_picture_of_49_megapixels_in_62_kb_is_refused_before_it_is_decoded(server):
    image = Image.new("L", (7000, 7000), "white")
    image.paste(0, (3000, 1000, 4000, 6000))  # a 1, read right by read_digit
    picture = png(image)
    del image
    assert len(picture) < draw.MAX_BODY
    address, _, proc = server
    (status, reason), mb = memory_of(proc.pid, lambda: send(address, post(picture)))
    print(f"a {len(picture)}-byte PNG of 49 megapixels refused: {mb:.0f} MB at its peak")
    assert status == 400 and len(err_lines(reason)) == 1
    names(reason, "7000 x 7000", draw.MAX_PIXELS)
    assert mb < 20


@pytest.fixture(scope="module")
def script():
    """The script's own globals after a run on the trained weights, as the server's
    (the same backend); SIGINT's handler as it was (the run installs its own)."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        return run_script(SCRIPT, "--params", "results/cnn.npz")
    finally:
        signal.signal(signal.SIGINT, handler)


@pytest.mark.parametrize("digit", [0, 4, 7])
def test_the_answer_is_the_scripts_own_and_each_map_is_scaled_by_its_own_maximum(
        server, script, digit):
    import pytensor
    address, *_ = server
    picture = ROOT / "data" / "digits" / f"{digit}.png"
    reply = good_answer(address, picture)
    image = read_digit(picture).reshape(1, 1, 28, 28)
    probabilities = script["probabilities"](image)[0]  # the script's own function
    assert np.abs(np.array(reply["probabilities"]) - probabilities).max() < 1e-6
    assert reply["predicted"] == np.argmax(probabilities)
    maps = pytensor.function([script["X"]], [script["l1"], script["l2"]],
                             mode=script["mode"])(image)
    for shown, layer in zip(reply["layers"], maps):
        assert np.array(shown).shape == layer[0].shape
        for shown_map, layer_map in zip(shown, layer[0]):
            top = layer_map.max()
            expected = np.round(layer_map / top * 255) if top > 0 else 0 * layer_map
            assert np.abs(np.array(shown_map) - expected).max() <= 1


def test_a_taken_port_falls_back_to_a_free_one():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with draw.open_server(layers=None, port=port) as server:
            assert server.server_address[0] == "127.0.0.1"
            assert server.server_port not in (port, 0)


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stdout, display, opens", [
    (Terminal(), ":0", True),
    (io.StringIO(), ":0", False),  # a pipe, a test, a log file: nobody is looking
    (Terminal(), None, sys.platform in ("darwin", "win32")),  # an ssh session, say
])
def test_the_browser_is_opened_only_for_someone_watching(monkeypatch, stdout, display, opens):
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if display:
        monkeypatch.setenv("DISPLAY", display)
    else:
        monkeypatch.delenv("DISPLAY", raising=False)
    assert draw.someone_watching() == opens


def test_the_readme_gives_the_command_and_the_picture():
    readme = (ROOT / "README.md").read_text()
    assert README_COMMAND in readme
    assert "(results/figures/draw_a_digit.png)" in readme
    assert (ROOT / "results" / "figures" / "draw_a_digit.png").exists()


# --- Ctrl-C -------------------------------------------------------------------------------

@pytest.mark.slow  # a second run of the script, its own to stop
def test_ctrl_c_stops_it_in_one_line(tmp_path):
    with open(tmp_path / "stderr", "w") as stderr, serving(stderr) as (proc, address):
        with urllib.request.urlopen(address, timeout=GUARD_S):
            pass  # serving
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=GUARD_S)
    lines = err_lines((tmp_path / "stderr").read_text())
    assert proc.returncode == 130
    assert len(lines) == 1, lines
    names(lines[0], SCRIPT, "Ctrl-C", address)
    with pytest.raises(OSError):  # closed: nothing answers there any more
        urllib.request.urlopen(address, timeout=GUARD_S)


def test_where_no_handler_is_installed_an_interrupt_ends_it_in_one_line(tmp_path):
    """As in a notebook, where training installs no Ctrl-C handler: the kernel's
    interrupt is a KeyboardInterrupt, and serve() ends with one line of its own."""
    code = "from toolkit import draw; draw.serve(layers=None, port=0)"  # no request is made
    with open(tmp_path / "stderr", "w") as stderr, \
            child([sys.executable, "-c", code], stderr) as proc:
        address = printed_address(proc)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=GUARD_S)
        rest = [proc.lines.get(timeout=GUARD_S) for _ in range(2)]  # a line, then the end
    assert proc.returncode == 0 and (tmp_path / "stderr").read_text() == ""
    assert rest == [f"stopped serving {address}\n", None]
