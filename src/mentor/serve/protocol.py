"""Request schemas (pydantic, OpenAI's field names) and the JSON shapes of OpenAI's response objects."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mentor.inference.decode import Sampling


class _Request(BaseModel):
    # Unknown OpenAI fields (user, metadata, logit_bias...) are accepted and ignored, as clients send them.
    model_config = ConfigDict(extra="ignore")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class _Generation(_Request):
    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1, le=16)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, lt=2**63)
    stream: bool = False
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)

    def sampling(self, limit: int | None, cap: int, constraint=None, logprobs: int | None = None) -> Sampling:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return Sampling(min(limit or cap, cap), self.temperature, self.top_p, self.seed, tuple(s for s in stop if s),
                        self.presence_penalty, self.frequency_penalty, constraint=constraint, logprobs=logprobs)


class ChatRequest(_Generation):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stream_options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool = True
    response_format: dict[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    metadata: dict[str, str] | None = None  # app: models read "conversation_id" (groups requests for the metrics)
    user: str | None = None


class ResponsesRequest(_Request):
    """The Responses API's subset: text and function tools, streamed or not."""

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool = True
    text: dict[str, Any] | None = None  # {"format": {"type": "json_schema", ...}}
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stream: bool = False
    metadata: dict[str, str] | None = None


class CompletionRequest(_Generation):
    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1)  # OpenAI's default for completions
    echo: bool = False

    @field_validator("prompt")
    @classmethod
    def _not_empty(cls, prompt: str | list[str]) -> str | list[str]:
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not prompts or not all(p for p in prompts):
            raise ValueError("an empty prompt has nothing to continue; send at least one character")
        return prompt


class EmbeddingRequest(_Request):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


class FineTuningJobRequest(_Request):
    model: str
    training_file: str
    validation_file: str | None = None
    suffix: str | None = Field(None, max_length=64)
    seed: int | None = None
    hyperparameters: dict[str, Any] | None = None
    method: dict[str, Any] | None = None


class VectorStoreRequest(_Request):
    name: str | None = None
    file_ids: list[str] = []
    metadata: dict[str, str] | None = None


class VectorStoreFileRequest(_Request):
    file_id: str


class VectorStoreSearchRequest(_Request):
    query: str | list[str]
    max_num_results: int = Field(10, ge=1, le=50)
    filters: dict[str, Any] | None = None
    rewrite_query: bool = False


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def listing(data: list[dict], has_more: bool = False) -> dict:
    out: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
    if data:
        out.update(first_id=data[0].get("id"), last_id=data[-1].get("id"))
    return out


def model_object(model_id: str, created: float, owned_by: str) -> dict:
    return {"id": model_id, "object": "model", "created": int(created), "owned_by": owned_by}


def file_object(record: dict) -> dict:
    return {"id": record["id"], "object": "file", "bytes": record["bytes"], "created_at": int(record["created"]),
            "filename": record["filename"], "purpose": record["purpose"], "status": "processed",
            "status_details": None, "expires_at": None}


def job_object(job: dict) -> dict:
    request, config = job["request"], job["request"]["config"]
    hyper = {"n_epochs": config.get("epochs") or "auto", "batch_size": config.get("batch_size"),
             "learning_rate_multiplier": (request.get("hyperparameters") or {}).get("learning_rate_multiplier", 1.0)}
    kind = (request.get("method") or {}).get("type", "supervised")
    error = {"code": "training_failed", "message": job["error"], "param": None} if job["error"] else None
    return {
        "id": job["id"], "object": "fine_tuning.job", "created_at": int(job["created"]), "model": request["model"],
        "status": job["status"], "fine_tuned_model": job["fine_tuned_model"],
        "finished_at": int(job["finished"]) if job["finished"] else None, "error": error,
        "training_file": request["training_file"], "validation_file": request.get("validation_file"),
        "hyperparameters": hyper, "seed": config.get("seed"), "suffix": request.get("suffix"),
        "organization_id": "local", "result_files": [], "trained_tokens": None, "estimated_finish": None,
        "integrations": [], "metadata": None,
        "method": {"type": kind, kind: {"hyperparameters": hyper, "method": config.get("method")}},
    }


def event_object(event: dict) -> dict:
    return {"id": event["id"], "object": "fine_tuning.job.event", "created_at": int(event["created"]),
            "level": event["level"], "message": event["message"], "data": event["data"], "type": event["type"]}


def checkpoint_object(job_id: str, ckpt: dict) -> dict:
    return {"id": ckpt["id"], "object": "fine_tuning.job.checkpoint", "created_at": int(ckpt["created"]),
            "fine_tuned_model_checkpoint": ckpt["model"], "fine_tuning_job_id": job_id,
            "step_number": ckpt["step"], "metrics": ckpt["metrics"]}


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class FeedbackRequest(_Request):
    """POST /v1/feedback: a rating of one app response (its ``id``)."""

    id: str = Field(min_length=1, max_length=200)
    rating: int
    comment: str | None = Field(None, max_length=10_000)
    correction: str | None = Field(None, max_length=100_000)


class PromoteRequest(_Request):
    """POST /v1/apps/{name}/promote."""

    run: str = Field(min_length=1, max_length=200)
    force: bool = False
