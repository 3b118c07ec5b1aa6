"""`mentor advise`: fine-tuning, RAG, distillation or a combination — and which method fits the hardware.

Plain rules, each recommendation with its reason in English and Chinese. Knowledge that changes or
must be cited belongs in a knowledge base (RAG); behaviour — style, format, domain language — is
trained into the weights (fine-tuning); speed on small hardware comes from a smaller student
(distillation) and quantisation. The method is the cheapest one whose estimated training memory fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mentor.deploy.memory import GiB, ModelShape, inference_memory, training_memory

HEADROOM = 0.9  # plan for 90% of the memory a device has


@dataclass(frozen=True)
class Situation:
    data_changes_often: bool = False
    must_cite_sources: bool = False
    needs_style_or_format: bool = False  # domain-specific style, format or behaviour
    training_examples: int = 0  # question/answer pairs the user has (0: none yet)
    model_params: float = 135e6
    gpu_memory_gb: float = 0.0  # 0: CPU only
    ram_gb: float = 16.0
    low_latency: bool = False  # answers must come fast on the target hardware
    low_budget: bool = False  # little compute time for training


@dataclass(frozen=True)
class Reason:
    en: str
    zh: str


@dataclass
class Advice:
    routes: list[str] = field(default_factory=list)  # "rag", "fine-tune", "distill", "quantize"
    method: str | None = None  # the fine-tuning method, when fine-tuning is recommended
    reasons: list[Reason] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def add(self, route: str | None, en: str, zh: str) -> None:
        if route and route not in self.routes:
            self.routes.append(route)
        self.reasons.append(Reason(en, zh))


def advise(s: Situation) -> Advice:
    advice = Advice()
    knowledge = s.data_changes_often or s.must_cite_sources
    if s.data_changes_often:
        advice.add("rag", "Your data changes often: keep it in a knowledge base, where adding or removing a document "
                          "takes effect at once, with no retraining.",
                   "数据经常变化：放进知识库（RAG），增删文档立即生效，无需重新训练。")
    if s.must_cite_sources:
        advice.add("rag", "Answers must cite sources: retrieval-augmented answers show the passages they used; "
                          "a fine-tuned model cannot say where it learned something.",
                   "回答需要引用来源：检索增强生成会给出所用段落；微调后的模型无法说明知识出处。")
    if s.needs_style_or_format:
        if s.training_examples >= 50:
            advice.add("fine-tune", f"You need a domain style or format and have {s.training_examples} examples: "
                                    "fine-tuning teaches behaviour that retrieval cannot.",
                       f"需要特定的领域风格或格式，且已有 {s.training_examples} 条示例：微调能教会模型检索做不到的行为。")
        else:
            advice.add("fine-tune", "You need a domain style or format but have few examples: write or collect at "
                                    "least 50-100 (or let a larger model answer your prompts: `mentor distill --mode "
                                    "seq`), then fine-tune.",
                       "需要特定风格或格式但示例太少：先准备至少 50-100 条（或用更大的模型回答你的提示："
                       "`mentor distill --mode seq`），再微调。")
    elif not knowledge and s.training_examples >= 50:
        advice.add("fine-tune", "Your knowledge is stable and you have examples: fine-tuning puts it into the model, "
                                "with no retrieval step at answer time.",
                   "知识稳定且已有示例：微调把知识写进模型，回答时无需检索。")
    elif not knowledge:
        advice.add("rag", "With no examples to train on, start with a knowledge base over your documents; fine-tune "
                          "later for style once you have examples.",
                   "没有可训练的示例时，先用文档建知识库；有了示例再微调风格。")
    if "fine-tune" in advice.routes:
        advice.method = _method(s, advice)
    _deployment(s, advice)
    advice.commands = _commands(advice)
    return advice


def _method(s: Situation, advice: Advice) -> str:
    shape = ModelShape.from_params(s.model_params)
    if s.gpu_memory_gb > 0:
        budget, device = s.gpu_memory_gb * GiB * HEADROOM, "gpu"
        order = ["lora", "qlora"] if s.low_budget or s.training_examples < 10_000 else ["full", "lora", "qlora"]
    else:
        budget, device = s.ram_gb * GiB * HEADROOM, "cpu"
        order = ["lora"] if s.low_budget or s.training_examples < 10_000 else ["full", "lora"]
    for method in order:
        need = training_memory(shape, method, batch_size=4 if device == "gpu" else 2, seq_len=512, device=device,
                               gradient_checkpointing=device == "gpu")
        if need.total <= budget:
            where = f"{s.gpu_memory_gb:g} GB GPU" if device == "gpu" else f"{s.ram_gb:g} GB RAM (CPU)"
            en, zh = {
                "full": ("full fine-tuning: you have many examples and the memory for all weights' optimizer state",
                         "全参数微调：示例多，内存也够存全部参数的优化器状态"),
                "lora": ("LoRA: trains under 1% of the weights, nearly full fine-tuning's quality, mergeable",
                         "LoRA：只训练不到 1% 的参数，效果接近全参数微调，可合并"),
                "qlora": ("QLoRA: LoRA on a 4-bit base, the only way this model's training fits this GPU",
                          "QLoRA：在 4 比特基座上做 LoRA，这是该模型在此 GPU 上训练的唯一可行方式"),
            }[method]
            advice.add(None, f"Method {en}; estimated {need.total / GiB:.1f} GB for a "
                             f"{s.model_params / 1e9:.3g}B model on {where}.",
                       f"方法 {zh}；{s.model_params / 1e9:.3g}B 模型在 {where} 上预计需要 {need.total / GiB:.1f} GB。")
            if device == "cpu" and s.model_params > 2e9:
                advice.add(None, "Training a model this size on a CPU takes days: rent a GPU for the training run, "
                                 "or fine-tune a smaller model.",
                           "在 CPU 上训练这么大的模型需要数天：训练时租用 GPU，或换用更小的模型。")
            return method
    smallest = "qlora" if device == "gpu" else "lora"
    need = training_memory(shape, smallest, batch_size=1, seq_len=512, device=device, gradient_checkpointing=True)
    advice.add(None, f"Even {smallest} on a {s.model_params / 1e9:.3g}B model needs about {need.total / GiB:.0f} GB: "
                     "pick a smaller base model or more memory.",
               f"即使用 {smallest}，{s.model_params / 1e9:.3g}B 模型也需要约 {need.total / GiB:.0f} GB：请换更小的基座模型或更大内存。")
    return smallest


def _deployment(s: Situation, advice: Advice) -> None:
    shape = ModelShape.from_params(s.model_params)
    memory = (s.gpu_memory_gb or s.ram_gb) * GiB * HEADROOM
    fits_16bit = inference_memory(shape, 16, device="gpu" if s.gpu_memory_gb else "cpu").total <= memory
    cpu_large = not s.gpu_memory_gb and s.model_params > 1e9
    if (s.low_latency or cpu_large) and (s.training_examples >= 50 or "fine-tune" in advice.routes):
        advice.add("distill", "Answers must be fast on this hardware: distil the tuned model into a student with "
                              "half the layers or fewer (about 2x faster), trained on the teacher's answers.",
                   "回答必须在此硬件上足够快：把微调后的模型蒸馏成层数减半或更少的学生模型（约快 2 倍），"
                   "用教师模型的回答训练。")
    if s.low_latency or cpu_large or not fits_16bit:
        advice.add("quantize", "Quantise for serving: int8 keeps quality within about 1% perplexity and doubles CPU "
                               "speed; int4 or GGUF q4_0 for the smallest memory.",
                   "部署时量化：int8 的困惑度损失约 1%，CPU 速度翻倍；内存最紧时用 int4 或 GGUF q4_0。")


def _commands(advice: Advice) -> list[str]:
    out = []
    if "rag" in advice.routes:
        out += ["mentor kb create docs", "mentor kb add docs ./documents", 'mentor ask docs "your question"']
    if "fine-tune" in advice.routes:
        out.append(f"mentor train --data examples.jsonl --method {advice.method}")
    if "distill" in advice.routes:
        out.append("mentor distill --teacher RUN --student-layers 12 --data prompts.jsonl --mode both -o student/")
    if "quantize" in advice.routes:
        out.append("mentor quantize RUN --to int8 --out model-int8/")
    return out
