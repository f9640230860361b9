"""The per-node assistant against a real local model (llama.cpp's server with SmolLM2-135M,
tests/integration/llamacpp_server.py), through the real engine and its workers.

A 135M model writes poor SQL; the point is the guarantee, not the SQL: whatever it answers
is parsed, guarded and tried on the sample, repaired at most twice, and a proposal that did
not run cleanly is reported as failed and never written into the workflow."""

from __future__ import annotations

import json

import pytest

from engine.client import EngineCallError
from tests.integration.engine_harness import EngineProcess
from tests.integration.helpers import source, sql, start, write_csv, write_workflow
from tests.integration.llamacpp_server import llamacpp_server

__all__ = ["llamacpp_server"]


@pytest.mark.slow
def test_a_poor_proposal_from_a_real_model_is_never_saved(llamacpp_server, dagflux_home, tmp_path):
    base_url, model = llamacpp_server
    folder = tmp_path / "p"
    folder.mkdir()
    write_csv(folder / "orders.csv", ["id", "country", "total"], [[i, "DE" if i % 2 else "FR", i] for i in range(9)])
    path = write_workflow(folder, "llm_flow", [start(), source("src", "orders.csv"),
                                               sql("shape", "SELECT * FROM {{ input }}")],
                          [("start", "src"), ("src", "shape")])
    engine = EngineProcess(dagflux_home)
    try:
        with engine.client(timeout=60) as client:
            wf_id = client.call("workflows.import", path=str(path))["id"]
            run = client.call("runs.start", workflow_id=wf_id)
            assert client.call("runs.wait", run_id=run["run_id"], timeout=60)["status"] == "succeeded"
            client.call("connections.add", id="local", type="openai", name="local",
                        settings={"base_url": base_url, "model": model, "timeout_s": 120}, secrets={})
            saved = (dagflux_home / "workflows" / f"{wf_id}.json").read_bytes()
            result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape",
                                 request="Total per country, biggest first, only countries above 10.",
                                 options={"max_tokens": 32, "temperature": 0}, timeout=600)
            assert result["status"] == "failed", json.dumps(result, indent=1)[:2000]
            assert len(result["attempts"]) == 3 and result["error"]
            assert all(a["reply"] for a in result["attempts"])          # the model did answer, each time
            assert result["usage"]["output_tokens"] > 0
            with pytest.raises(EngineCallError, match="cannot be saved"):
                client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=result["id"])
            assert (dagflux_home / "workflows" / f"{wf_id}.json").read_bytes() == saved
            assert client.call("ai.provenance", workflow_id=wf_id) == {}
    finally:
        engine.stop()
