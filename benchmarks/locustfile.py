"""Mixed load on a running ``imint serve``: searches, reviews, case edits and page views by 3 roles.

Run through ``benchmarks/mixed_load.py`` (it prepares a workspace, starts the server with a given
number of analysis workers and runs locust headless), or by hand against a prepared server:

    IMINT_LOCUST_SETUP=setup.json locust -f benchmarks/locustfile.py --headless \\
        -u 12 -r 4 -t 90s --host http://127.0.0.1:8000 --csv out/mixed

``setup.json`` (written by ``mixed_load.py``) holds a token per role, the case to edit and a
folder of photos; every search sends a photo not sent before (a fresh analysis) while the
folder lasts. Requests are named by kind, so locust's table gives p50/p95 per kind.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
from pathlib import Path

from locust import HttpUser, between, task

SETUP = json.loads(Path(os.environ["IMINT_LOCUST_SETUP"]).read_text())
PHOTOS = sorted(Path(SETUP["photos"]).glob("*.jpg"))
_next_photo = itertools.count()
_photo_lock = threading.Lock()


def next_photo() -> Path:
    with _photo_lock:
        return PHOTOS[next(_next_photo) % len(PHOTOS)]


class ImintUser(HttpUser):
    abstract = True
    role = "viewer"
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.client.headers.update(
            {"Authorization": f"Bearer {SETUP['tokens'][self.role]}", "Accept": "application/json"}
        )

    def view(self, path: str) -> None:
        self.client.get(path, name="page view")


class Viewer(ImintUser):
    role = "viewer"
    weight = 2

    @task
    def pages(self) -> None:
        self.view(random.choice(["/", "/cases", f"/cases/{SETUP['case_id']}", "/persons", "/review"]))


class Analyst(ImintUser):
    role = "analyst"
    weight = 3

    @task(3)
    def search(self) -> None:
        photo = next_photo()
        with photo.open("rb") as fh:
            self.client.post("/search", files=[("files", (photo.name, fh, "image/jpeg"))], name="search")

    @task(2)
    def review(self) -> None:
        queue = self.client.get("/review?limit=20", name="page view").json().get("matches") or []
        if queue:
            candidate = random.choice(queue)
            decision = random.choice(["confirm", "reject"])
            self.client.post(
                f"/candidates/{candidate['id']}/{decision}", data={"note": "load test"}, name="review"
            )

    @task(2)
    def case_edit(self) -> None:
        self.client.post(
            f"/cases/{SETUP['case_id']}/claims",
            data={"text": f"claim from the load test {random.random():.6f}", "source": "locust"},
            name="case edit",
        )

    @task(2)
    def pages(self) -> None:
        self.view(random.choice(["/", "/search", "/cases", "/persons"]))


class Admin(ImintUser):
    role = "admin"
    weight = 1

    @task(2)
    def pages(self) -> None:
        self.view(random.choice(["/", "/users", "/audit?limit=50", "/jobs", f"/cases/{SETUP['case_id']}"]))

    @task(1)
    def case_edit(self) -> None:
        self.client.post(
            f"/cases/{SETUP['case_id']}/claims",
            data={"text": f"admin note {random.random():.6f}", "source": "locust"},
            name="case edit",
        )
