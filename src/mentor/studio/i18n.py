"""The studio's UI text in Chinese; English is the key itself. ``translator(lang)`` gives ``t(text, **values)``."""

from __future__ import annotations

from collections.abc import Callable

ZH = {
    # layout and session
    "Skip to content": "跳到正文", "Pages": "页面", "Chat": "对话", "Data": "数据", "Train": "训练", "Runs": "运行",
    "Knowledge bases": "知识库", "Apps": "应用", "Advise": "方案建议", "Sign in": "登录", "API key": "API 密钥",
    "Incorrect API key.": "API 密钥不正确。", "Request failed": "请求失败",
    # chat
    "Models (pick two or three to compare)": "模型（选两三个并排比较）", "Model": "模型", "(none)": "（无）",
    "System prompt and sampling": "系统提示词与采样", "System prompt": "系统提示词", "Temperature": "温度",
    "Top p": "Top p", "Max tokens": "最大生成词元数", "Message": "消息", "Send": "发送", "New conversation": "新对话",
    "Good answer": "回答得好", "Bad answer": "回答不好", "Correction (the answer it should have given)": "更正（应该给出的回答）",
    "Send feedback": "提交反馈", "Feedback saved": "反馈已保存", "Route": "路由", "Tool calls": "工具调用", "Guard": "安全检查",
    "Citations": "引用",
    # data
    "Training data (.jsonl or .json: OpenAI chat, ShareGPT or Alpaca rows)": "训练数据（.jsonl 或 .json：OpenAI 对话、ShareGPT 或 Alpaca 格式）",
    "Upload and check": "上传并检查", "Checking...": "检查中…", "Uploaded training files": "已上传的训练文件",
    "File": "文件", "Name": "名称", "Size": "大小", "Actions": "操作", "Prepare and split": "清洗并划分",
    "Train on it": "用它训练", "No files yet.": "还没有文件。", "Problems": "问题", "Line": "行", "Field": "字段",
    "Severity": "级别", "Problem": "问题", "error": "错误", "warning": "警告",
    "{n} errors: the file was not stored. Fix these lines and upload it again.": "{n} 个错误：文件未保存。请修改这些行后重新上传。",
    "Stored as {id}: ready to train.": "已保存为 {id}：可以训练了。", "Format": "格式", "Examples": "样本数",
    "Duplicates": "重复", "Languages": "语言", "Chinese": "中文", "English": "英文", "Tokens per epoch": "每轮词元数",
    "Token lengths": "词元长度", "Length histogram (tokens per example)": "长度分布（每个样本的词元数）",
    "Preview with the model's chat template": "按模型对话模板预览",
    "Prepared {file}: {train} training and {val} validation rows ({dups} duplicates, {invalid} invalid, {long} too long "
    "dropped) in {out}.": "已处理 {file}：训练 {train} 条、验证 {val} 条（去掉重复 {dups} 条、无效 {invalid} 条、过长 {long} 条），保存在 {out}。",
    # training
    "Base model or run to continue": "基础模型或要继续训练的运行", "Training file": "训练文件", "Method": "方法",
    "preference pairs (chosen / rejected), LoRA": "偏好对（chosen / rejected），LoRA",
    "Hyperparameters (empty: chosen from the data, as `mentor train` does)": "超参数（留空：像 `mentor train` 一样按数据自动选择）",
    "Epochs": "轮数", "Batch size": "批大小", "Learning rate multiplier": "学习率倍数", "Suffix of the model name": "模型名后缀",
    "Options of {method}": "{method} 的选项", "Estimating memory...": "正在估算内存…", "Start training": "开始训练",
    "Jobs": "任务", "Job": "任务", "Status": "状态", "Base model": "基础模型", "Fine-tuned model": "微调后的模型",
    "No jobs yet.": "还没有任务。", "No memory estimate": "无法估算内存",
    "Memory advisor: about {gb:.2f} GB for one training step of {method} on {model} (batch {batch} x {seq} tokens; "
    "{where}).": "内存估算：在 {model} 上用 {method} 训练一步约需 {gb:.2f} GB（批 {batch} × {seq} 词元；{where}）。",
    "CPU": "CPU", "weights": "权重", "gradients + optimizer": "梯度 + 优化器", "activations": "激活", "logits": "logits",
    "runtime": "运行时", "training_file: upload a training file on the Data page first.": "training_file：请先在数据页上传训练文件。",
    "step {step} of {total}": "第 {step} / {total} 步", "about {eta} left": "约剩 {eta}", "model": "模型",
    "Cancel": "取消", "Pause": "暂停", "Resume": "继续", "Open the run": "打开运行", "Chat with it": "和它对话",
    "Training and validation loss by step": "每步的训练与验证损失", "Events": "事件", "queued": "排队中",
    "running": "训练中", "succeeded": "已完成", "failed": "失败", "cancelled": "已取消", "paused": "已暂停",
    "validating_files": "校验文件中",
    # runs
    "Compare": "比较", "Run": "运行", "Created": "创建时间", "No runs yet.": "还没有运行。",
    "Compare the checked runs": "比较勾选的运行", "Compare runs": "比较运行", "Training loss by step": "每步的训练损失",
    "Check two to four runs to compare.": "请勾选两到四个运行来比较。", "HTML report": "HTML 报告", "Summary": "摘要",
    "Evaluation": "评估", "Promote to an app": "上线到应用", "App": "应用", "Without comparing first": "不先比较",
    "Promote": "上线", "Configuration": "配置", "App {app} version {version} now serves {run}.": "应用 {app} 的第 {version} 版现在使用 {run}。",
    # knowledge bases
    "Embedding model": "向量模型", "Create a knowledge base": "创建知识库", "Knowledge base": "知识库", "Chunks": "分块数",
    "No knowledge bases yet.": "还没有知识库。", "{n} chunks": "{n} 个分块", "Ask with citations": "带引用提问",
    "Documents (.txt, .md, .pdf, .docx, .html)": "文档（.txt、.md、.pdf、.docx、.html）", "Upload and index": "上传并建索引",
    "Documents": "文档", "No documents yet.": "还没有文档。", "Search": "搜索", "Query": "查询", "Mode": "方式",
    "Results": "结果数", "Indexing": "建索引", "Indexing {file}": "正在索引 {file}", "Open the result": "打开结果",
    "Indexed: {added} added, {updated} updated, {unchanged} unchanged, {chunks} chunks, in {seconds:.1f} s.":
        "索引完成：新增 {added}、更新 {updated}、未变 {unchanged}，共 {chunks} 个分块，用时 {seconds:.1f} 秒。",
    "score": "得分", "Nothing found.": "没有找到。", "{name} is still indexing the last upload.": "{name} 还在索引上一次上传的文档。",
    # apps
    "Template": "模板", "Knowledge base (qa only)": "知识库（仅问答）", "Create from the template": "用模板创建",
    "Version": "版本", "Description": "说明", "No apps yet.": "还没有应用。", "Sections": "栏目", "Prompt": "提示词",
    "Test a message": "测试一条消息", "Metrics": "指标", "Bad cases": "坏案例", "History": "历史",
    "role": "角色", "task": "任务", "scene": "场景", "boundaries": "边界", "requirements": "要求", "style": "风格",
    "reasoning": "推理方式", "Save as a new version": "保存为新版本",
    "Whole configuration (router, tools, guard, evaluation) as YAML": "完整配置（路由、工具、安全检查、评估），YAML 格式",
    "app.yaml": "app.yaml", "Test": "测试", "Answering...": "回答中…", "Day": "日期", "Requests": "请求数",
    "Conversations": "会话数", "Turns per conversation": "每会话轮数", "Thumbs-up %": "点赞率 %",
    "Rated %": "有反馈的比例 %", "Blocked": "拦截", "Errors": "错误", "p50 latency (s)": "p50 延迟（秒）",
    "p95 latency (s)": "p95 延迟（秒）", "No requests yet.": "还没有请求。", "Iteration rounds": "迭代轮次",
    "No rounds yet: run `mentor iterate {app}` when enough cases are reviewed.": "还没有迭代：审核够了案例后运行 `mentor iterate {app}`。",
    "Changes in the latest version": "最新版本的改动", "topic": "主题", "Question": "问题", "Answer": "回答",
    "Correction": "更正", "Accept the correction": "采纳更正", "Reject the case": "驳回此案例",
    "No bad cases: nothing was rated down or failed a check.": "没有坏案例：没有差评，也没有未通过检查的回答。",
    "Saved version {version}.": "已保存第 {version} 版。", "Unchanged: still version {version}.": "没有改动：仍是第 {version} 版。",
    "correction: write the answer the app should have given.": "correction：请写出应用应该给出的回答。",
    "routed_by": "路由依据", "flow": "流程", "guard": "安全检查", "tool_calls": "工具调用", "citations": "引用",
    "route": "路由",
    "Evaluate": "评估", "Versions": "版本", "Other models to run it on (comma-separated; empty: the app's own)":
        "在其他模型上运行（逗号分隔；留空：应用自己的模型）", "Run the evaluation matrix": "运行评估矩阵",
    "Set evaluation.cases in the YAML to evaluate.": "在 YAML 中设置 evaluation.cases 才能评估。",
    "{n} cases per variant": "每个变体 {n} 个用例", "Variant": "变体", "Score": "得分", "Checks passed %": "检查通过率 %",
    "Judge": "评审", "s / case": "秒 / 用例", "Start an iteration round": "开始一轮迭代",
    "Mines the cases, builds the next dataset, fine-tunes, compares and promotes a winner (mentor iterate).":
        "挖掘案例、生成下一版数据集、微调、比较，胜出则上线（mentor iterate）。",
    "Round": "轮次", "comparison": "比较报告", "Iteration round": "迭代轮次", "stopped": "已停止", "refused": "未上线",
    "promoted": "已上线", "candidate": "候选",
    "Export or quantise": "导出或量化", "hf: merged model folder (transformers, vLLM)": "hf：合并后的模型目录（transformers、vLLM）",
    "adapter: the PEFT folder": "adapter：PEFT 适配器目录", "gguf: llama.cpp, Ollama": "gguf：llama.cpp、Ollama",
    "Precision": "精度", "(default)": "（默认）", "Export": "导出", "Quantise for CPU inference": "为 CPU 推理量化",
    "Quantise": "量化", "exporting to {out}": "正在导出到 {out}", "quantising to {out}": "正在量化到 {out}",
    "Exported {run} as {fmt} to {path}.": "已将 {run} 以 {fmt} 格式导出到 {path}。",
    "Quantised {run} to {scheme} in {path}.": "已将 {run} 量化为 {scheme}，保存在 {path}。",
    "Back": "返回", "Requests and thumbs-up rate by day": "每天的请求数与点赞率",
    # advise
    "Your situation": "你的情况", "The knowledge changes often": "知识经常变化", "Answers must cite their sources": "回答必须注明出处",
    "Answers need a house style or format": "回答需要特定风格或格式", "Answers must come fast": "回答必须很快",
    "Little compute time for training": "训练算力有限", "Training examples you have": "已有的训练样本数",
    "Model size (e.g. 135M, 7B)": "模型大小（如 135M、7B）", "GPU memory (GB, 0: none)": "显存（GB，0 表示没有）",
    "RAM (GB)": "内存（GB）", "Routes": "方案", "Commands": "命令",
}


def translator(lang: str) -> Callable[..., str]:
    table = ZH if lang == "zh" else {}

    def t(text: str, **values) -> str:
        out = table.get(text, text)
        return out.format(**values) if values else out

    return t
