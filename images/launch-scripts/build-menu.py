#!/usr/bin/env python3
"""Build the desktop's Applications -> Astro Software -> <project> -> <name:version> menu (spec §8)
from GET /skaha/<v>/image?type=desktop-app, called back with the desktop's token, plus the
Resolution submenu. Writes a fluxbox menu to $SKAHA_DESKTOP_DIR/menu (default /tmp/skaha-desktop):
container-local, so nothing is left in the user's home."""
import json
import os
import sys
import urllib.request

API = os.environ.get("SKAHA_API_URL", "").rstrip("/")
VERSION = os.environ.get("SKAHA_API_VERSION", "v0")
TOKEN = os.environ.get("DESKTOP_SESSION_APP_TOKEN", "")
OUT = os.environ.get("SKAHA_DESKTOP_DIR", "/tmp/skaha-desktop")
RESOLUTIONS = ["1920x1200", "1920x1080", "1680x1050", "1600x900", "1440x900", "1280x1024", "1280x800", "1024x768", "800x600", "640x480"]
LAUNCHER = "/skaha-system/launch-app.py"


def fetch_apps():
    req = urllib.request.Request(f"{API}/skaha/{VERSION}/image?type=desktop-app", headers={"x-auth-token-skaha": TOKEN, "accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as res:
        images = json.load(res)
    # A `latest` tag that names the same image as a versioned tag is not a second app.
    versioned = {(img["id"].rsplit(":", 1)[0], img.get("digest")) for img in images if not img["id"].endswith(":latest")}
    return [img["id"] for img in images if not (img["id"].endswith(":latest") and (img["id"].rsplit(":", 1)[0], img.get("digest")) in versioned)]


def quote(text):
    """Fluxbox menu labels end at ')' and commands at '}'."""
    return text.replace(")", "\\)").replace("}", "\\}")


def menu(apps, problem=None):
    """The menu; with `problem` (the software list could not be fetched), Astro Software says so
    and offers to try again, instead of being an empty submenu nobody can explain."""
    projects = {}
    for image in sorted(set(apps)):
        parts = image.split("/")
        if len(parts) < 3:
            continue  # host/project/name:version only (spec §8)
        projects.setdefault(parts[-2], []).append((parts[-1], image))
    lines = ["[begin] (skaha desktop)", "  [submenu] (Applications)", "    [submenu] (Astro Software)"]
    if problem:
        lines.append(f"      [nop] ({quote('The software list could not be fetched: ' + problem)})")
        lines.append(f"      [exec] (Try again) {{{sys.argv[0] if sys.argv[0].startswith('/') else '/skaha-system/build-menu.py'}}}")
    elif not projects:
        lines.append("      [nop] (No desktop software is offered on this platform)")
    for project in sorted(projects):
        lines.append(f"      [submenu] ({quote(project)})")
        for label, image in projects[project]:
            title = f"launch {label}"
            lines.append(f"        [exec] ({quote(label)}) {{xterm -title {quote(json.dumps(title))} -e {LAUNCHER} {image}}}")
        lines.append("      [end]")
    lines += ["    [end]", "    [exec] (Terminal) {xterm}", "  [end]", "  [submenu] (Resolution)"]
    lines += [f"    [exec] ({r}) {{xrandr -s {r}}}" for r in RESOLUTIONS]
    lines += ["  [end]", "  [reconfig] (Reload menu)", "[end]", ""]
    return "\n".join(lines)


def main():
    if not API or not TOKEN:
        print("build-menu: SKAHA_API_URL and DESKTOP_SESSION_APP_TOKEN are needed", file=sys.stderr)
        return 1
    problem = None
    try:
        apps = fetch_apps()
    except Exception as err:  # the desktop still starts; its menu says what went wrong
        print(f"build-menu: cannot list desktop-apps: {err}", file=sys.stderr)
        apps = []
        problem = str(getattr(err, "reason", err))[:80]
    os.makedirs(OUT, exist_ok=True)
    # Written whole and renamed: fluxbox re-reads the menu file when it changes ("Try again").
    path = os.path.join(OUT, "menu")
    with open(path + ".new", "w") as f:
        f.write(menu(apps, problem))
    os.replace(path + ".new", path)
    print(f"build-menu: {len(apps)} desktop-app image(s) in Applications -> Astro Software")
    return 0


if __name__ == "__main__":
    sys.exit(main())
