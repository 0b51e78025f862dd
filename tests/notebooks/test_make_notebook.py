"""``make notebook``: JupyterLab on 127.0.0.1 with a token, the project's kernel as the default,
the lake root in the kernel's environment, and nothing fetched from the network.

No Spark: the server is started, asked a few questions over HTTP, and stopped.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from c360.jupyter import KERNEL_NAME, PROJECT_ROOT, make_notebook
from c360.ports import free_port


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def test_make_notebook_serves_the_project_kernel_on_localhost(tmp_path: Path) -> None:
    lake_root = tmp_path / "lake"
    port = free_port()
    with make_notebook(lake_root, port) as (url, _):
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1" and parts.port == port and parts.path == "/lab"
        token = parts.query.removeprefix("token=")
        assert len(token) >= 32

        status, body = _get(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}")
        assert status == 200
        specs = json.loads(body)
        assert specs["default"] == KERNEL_NAME
        spec = specs["kernelspecs"][KERNEL_NAME]["spec"]
        assert Path(spec["argv"][0]) == Path(sys.executable)
        assert spec["env"]["C360_LAKE_ROOT"] == str(lake_root.resolve())
        assert spec["env"]["PYTHONPATH"] == str(PROJECT_ROOT)

        status, body = _get(f"http://127.0.0.1:{port}/api/contents?token={token}")
        assert status == 200
        listed = {item["name"] for item in json.loads(body)["content"]}
        assert "01_customer360_tour.ipynb" in listed, "the server opens on notebooks/"

        assert _get(f"http://127.0.0.1:{port}/api/kernelspecs")[0] == 403, "no token, no access"
        # offline: no news feed and no update check are fetched
        assert json.loads(_get(f"http://127.0.0.1:{port}/lab/api/news?token={token}")[1]) == {"news": []}
        assert json.loads(_get(f"http://127.0.0.1:{port}/lab/api/update?token={token}")[1]) == {"notification": None}
        # ... and the front end does not ask for them (the news toast on first start)
        status, body = _get(
            f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}"
        )
        assert status == 200
        defaults = {k: v["default"] for k, v in json.loads(body)["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
