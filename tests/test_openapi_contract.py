"""The OpenAPI document is the contract the server keeps: schemathesis generates requests from
/openapi.json (valid and invalid ones, and sequences of them) and checks every answer against the
document: no 5xx, documented statuses, content types, headers and bodies, invalid requests
refused, the Allow header. A real server on 127.0.0.1, for a bounded time (MAX_TIME_S).

positive_data_acceptance is left out: a schema cannot say "a decodable image", so the random
bytes it allows for a photo are rightly refused with 400.
"""

from __future__ import annotations

import json
import subprocess
import sys

from test_service import make_weights, start_server, stop_server

MAX_TIME_S = 20
TOKEN = "schemathesis-token-0123456789"


def test_the_server_keeps_its_openapi_contract(tmp_path):
    from photonormals.models import create_model
    from photonormals.models.weights import save_weights

    # Both models, so that no request is answered 501 (no model): that is a 5xx too.
    weights = make_weights(tmp_path / "both-models")
    save_weights(weights / "single.safetensors", create_model("portrait_lite"), steps=0)
    (weights / "index.json").write_text(
        json.dumps({"multi": "multi.safetensors", "single": "single.safetensors"})
    )
    process, url = start_server(tmp_path, "--token", TOKEN, "--max-upload-mb", "2",
                                env={"PHOTONORMALS_WEIGHTS": str(weights)})
    try:
        result = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
             "--checks", "all", "--exclude-checks", "positive_data_acceptance",
             "--header", f"Authorization: Bearer {TOKEN}", "--max-time", str(MAX_TIME_S),
             "--workers", "1", "--request-timeout", "20", "--seed", "32"],
            capture_output=True, text=True, timeout=MAX_TIME_S + 120,
            cwd=tmp_path,  # its cache folder goes there, not into the work tree
        )
    finally:
        stop_server(process)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
