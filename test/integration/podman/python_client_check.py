"""Drive the official skaha Python client (1.7.0) against a server, as a user would, and print
what it saw as one JSON object. Run by python-client.test.ts with SKAHA_TEST_SERVER/TOKEN/IMAGE."""
import json
import os
import time

from skaha.context import Context
from skaha.images import Images
from skaha.session import Session

kw = dict(server=os.environ["SKAHA_TEST_SERVER"], token=os.environ["SKAHA_TEST_TOKEN"], loglevel=40)
image = os.environ["SKAHA_TEST_IMAGE"]
session = Session(**kw)
out = {"images": Images(**kw).fetch(kind="headless"), "context": sorted(Context(**kw).resources().keys())}
ids = session.create(name="pyjob", image=image, kind="headless", cmd="sh", args="-c env", replicas=2, env={"FROM": "python"})
out["created"] = ids
deadline = time.time() + 60
while time.time() < deadline:
    statuses = {s["id"]: s["status"] for s in session.fetch(kind="headless")}
    if all(statuses.get(i) in ("Succeeded", "Failed") for i in ids):
        break
    time.sleep(0.3)
out["statuses"] = [statuses.get(i) for i in ids]
out["info"] = [i["status"] for i in session.info(ids)]
out["logs"] = session.logs(ids)
out["events"] = session.events(ids)
out["stats"] = session.stats()
out["destroyed"] = session.destroy_with(prefix="pyjob")
print(json.dumps(out))
