"""Requests are checked before they cost anything. Fine-tuning jobs: only this server's models (no client-chosen path or
hub id: no file-existence oracle, no download), bounded hyperparameters and method options, and no job at all on
a server without a worker. Generation requests that would break a shared batch are refused before they join one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mentor.serve.app import ServeSettings, create_app
from tests.conftest import MODEL, SAMPLE


def _client(workspace, worker: bool = True) -> TestClient:
    # no lifespan (no `with`): nothing is loaded and no worker starts; requests are validated and queued only
    return TestClient(create_app(ServeSettings(home=str(workspace.home), worker=worker)), base_url="http://127.0.0.1")


@pytest.fixture
def uploaded(workspace):
    client = _client(workspace)
    with SAMPLE.open("rb") as f:
        file_id = client.post("/v1/files", files={"file": ("train.jsonl", f)}, data={"purpose": "fine-tune"}).json()["id"]
    return client, file_id


@pytest.mark.parametrize("model", ["/etc", "/nonexistent/folder", "HuggingFaceTB/SmolLM2-360M", "../runs/x"])
def test_only_served_models_are_fine_tuned(uploaded, model):
    client, file_id = uploaded
    reply = client.post("/v1/fine_tuning/jobs", json={"model": model, "training_file": file_id})
    message = reply.json()["error"]["message"]
    assert reply.status_code == 400 and "is not a model this server fine-tunes" in message
    assert "config.json" not in message  # the same answer whether or not the path exists


@pytest.mark.parametrize("hyper", [{"n_epochs": 10**12}, {"n_epochs": -1}, {"n_epochs": 1.5}, {"batch_size": 0},
                                   {"batch_size": 10**9}, {"learning_rate_multiplier": -2},
                                   {"learning_rate_multiplier": True}, {"n_epochs": "lots"}])
def test_hyperparameters_are_bounded(uploaded, hyper):
    client, file_id = uploaded
    reply = client.post("/v1/fine_tuning/jobs", json={"model": MODEL, "training_file": file_id, "hyperparameters": hyper})
    key = next(iter(hyper))
    assert reply.status_code == 400 and reply.json()["error"]["message"].startswith(f"hyperparameters.{key}: ")


def test_method_options_are_bounded_and_good_requests_queue(uploaded):
    client, file_id = uploaded
    huge = client.post("/v1/fine_tuning/jobs", json={"model": MODEL, "training_file": file_id,
                                                     "method": {"type": "lora", "lora": {"options": {"r": 100000}}}})
    assert huge.status_code == 400 and "less than or equal to 1024" in huge.json()["error"]["message"]
    ok = client.post("/v1/fine_tuning/jobs", json={"model": MODEL, "training_file": file_id,
                                                   "hyperparameters": {"n_epochs": 2, "batch_size": "auto"}})
    assert ok.status_code == 200 and ok.json()["status"] == "queued"


def test_no_worker_no_jobs(workspace):
    client = _client(workspace, worker=False)
    with SAMPLE.open("rb") as f:
        file_id = client.post("/v1/files", files={"file": ("train.jsonl", f)}, data={"purpose": "fine-tune"}).json()["id"]
    reply = client.post("/v1/fine_tuning/jobs", json={"model": MODEL, "training_file": file_id})
    assert reply.status_code == 400 and "--no-worker" in reply.json()["error"]["message"]


def test_a_torn_metrics_line_does_not_break_the_job_routes(uploaded, workspace):
    """A crash mid-write leaves half a line at the end of metrics.jsonl: events and checkpoints still answer."""
    client, file_id = uploaded
    job = client.post("/v1/fine_tuning/jobs", json={"model": MODEL, "training_file": file_id}).json()
    run_dir = workspace.runs_dir / job["id"]
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text('{"step": 1, "time": 1.0, "train_loss": 2.5}\n{"step": 2, "tim', encoding="utf-8")
    events = client.get(f"/v1/fine_tuning/jobs/{job['id']}/events", params={"limit": 50})
    assert events.status_code == 200 and any("training loss=2.5000" in e["message"] for e in events.json()["data"])
    assert client.get(f"/v1/fine_tuning/jobs/{job['id']}/checkpoints").status_code == 200


@pytest.mark.parametrize("body, where", [
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "seed": 2**64}, "seed"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "seed": -1}, "seed"),
])
def test_requests_that_would_break_a_batch_are_refused_first(workspace, body, where):
    """Checked before anything joins a batch (the server answers 400 without loading a model)."""
    reply = _client(workspace).post("/v1/chat/completions", json=body)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == where


def test_an_empty_prompt_is_refused_and_a_tiny_temperature_is_greedy(workspace):
    from mentor.inference.decode import Sampling

    reply = _client(workspace).post("/v1/completions", json={"model": MODEL, "prompt": ""})
    assert reply.status_code == 400 and "empty prompt" in reply.json()["error"]["message"]
    assert Sampling(temperature=1e-300).temperature == 0.0 and Sampling(temperature=0.7).temperature == 0.7


def test_a_loopback_server_answers_loopback_names_only(workspace):
    """DNS rebinding: a page on attacker.example that resolves its name to 127.0.0.1 reaches the port, but its
    requests carry its own Host and are refused; 127.0.0.1, localhost and [::1] pass."""
    client = _client(workspace)
    assert client.get("/v1/models", headers={"Host": "attacker.example"}).status_code == 421
    assert client.get("/v1/files", headers={"Host": "attacker.example:8000"}).json()["error"]["code"] == "misdirected_request"
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000"):
        assert client.get("/v1/files", headers={"Host": host}).status_code == 200, host
    proxied = TestClient(create_app(ServeSettings(home=str(workspace.home), allowed_hosts=["mentor.lan"])))
    assert proxied.get("/v1/files", headers={"Host": "mentor.lan"}).status_code == 200
    public = TestClient(create_app(ServeSettings(home=str(workspace.home), host="0.0.0.0", api_key="k")))
    assert public.get("/v1/files", headers={"Host": "mentor.example", "Authorization": "Bearer k"}).status_code == 200


def test_an_empty_api_key_is_refused():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "mentor", "serve", "--api-key", ""], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0 and "--api-key (or MENTOR_API_KEY) is empty" in result.stderr
