"""Training curves as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)  # headless; keeps an interactive backend a user already chose
    from matplotlib.figure import Figure

    return Figure(figsize=(8, 3.6), dpi=110)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def loss_curves(records: list[dict]) -> bytes | None:
    """Training loss per step (raw and smoothed) and validation loss at each evaluation."""
    train = [(r["step"], r["train_loss"]) for r in records if "train_loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    if not train and not val:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    if train:
        steps, losses = zip(*train)
        ax.plot(steps, losses, color="#8fb8de", linewidth=1, label="training loss")
        window = max(1, len(losses) // 10)
        smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
                  for i in range(len(losses))]
        ax.plot(steps, smooth, color="#0969da", linewidth=2, label=f"training loss (mean of {window})")
    if val:
        steps, losses = zip(*val)
        ax.plot(steps, losses, "o-", color="#cf222e", linewidth=2, label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy per token")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def generation_curves(records: list[dict], names: tuple[str, ...] = ("rougeL", "bleu", "f1")) -> bytes | None:
    """Generation metrics measured at each validation (``eval_generate``)."""
    rows = [r for r in records if any(n in r for n in names)]
    if not rows:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for name in names:
        points = [(r["step"], r[name]) for r in rows if name in r]
        if points:
            ax.plot(*zip(*points), "o-", label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("score (0-100)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)
