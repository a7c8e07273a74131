#!/usr/bin/env python3
"""Launch a desktop-app onto this desktop (the start-<app>.sh of spec §8): optionally ask for
cores and RAM from /context, POST /session/<desktop>/app, poll until Running. Runs in an xterm
opened from the Astro Software menu."""
import json
import os
import sys
import time
import urllib.parse
import urllib.request

API = os.environ.get("SKAHA_API_URL", "").rstrip("/")
VERSION = os.environ.get("SKAHA_API_VERSION", "v0")
TOKEN = os.environ.get("DESKTOP_SESSION_APP_TOKEN", "")
DESKTOP = os.environ.get("VNC_PW") or os.environ.get("skaha_sessionid", "")
BASE = f"{API}/skaha/{VERSION}"


def call(method, path, form=None):
    data = urllib.parse.urlencode(form, doseq=True).encode() if form else None
    headers = {"x-auth-token-skaha": TOKEN, "accept": "application/json"}
    if data is not None:
        headers["content-type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(f"{BASE}/{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.read().decode()
    except urllib.error.HTTPError as err:
        raise SystemExit(f"error: {err.read().decode().strip() or err.reason}")


def choose(prompt, options, default):
    while True:
        answer = input(f"{prompt} {options} [{default}]: ").strip()
        if not answer:
            return str(default)
        if answer.isdigit() and int(answer) in options:
            return answer
        print(f"choose one of {options}")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: launch-app.py <image>")
    image = sys.argv[1]
    form = {"image": image, "param": image.rsplit("/", 1)[-1]}
    if sys.stdin.isatty() and os.environ.get("SKAHA_ASK_RESOURCES", "1") == "1":
        if input(f"{image}\nspecify resources? (y/n) [n]: ").strip().lower().startswith("y"):
            ctx = json.loads(call("GET", "context"))
            form["cores"] = choose("cores", ctx["cores"]["options"], ctx["cores"]["default"])
            form["ram"] = choose("RAM (GiB)", ctx["memoryGB"]["options"], ctx["memoryGB"]["default"])
    app_id = call("POST", f"session/{DESKTOP}/app", form).strip()
    print(f"launching {image} as app {app_id}...", flush=True)
    for _ in range(600):
        body = call("GET", f"session/{DESKTOP}/app/{app_id}")
        status = json.loads(body).get("status")
        if status == "Running":
            print(f"{image} is running; its window opens on this desktop.")
            time.sleep(2)
            return 0
        if status not in ("Pending", None):
            raise SystemExit(f"error: {image} is {status}; see `skaha events {DESKTOP}`")
        time.sleep(1)
    raise SystemExit(f"error: {image} did not start within 10 minutes")


if __name__ == "__main__":
    sys.exit(main())
