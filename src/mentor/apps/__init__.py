"""Applications (above the model engine): users' feedback and business metrics (``feedback``), ready app
templates (``templates``), and the continuous-iteration loop: an app's online bad cases become the next
training set, the current model is fine-tuned further on it, and the candidate is compared with the serving
model and promoted only when it wins without forgetting (``cases``, ``compare``, ``loop``).

    cases = mine(ws, "sql-help")                       # thumbs-down, corrections, failed checks, low routes...
    stats = build_dataset(ws, "sql-help", cases, out)  # reviewed corrections -> SFT rows, + replay, held-out split
    result = compare(ws, "sql-help", "sql-help-r1")    # eval set, held-out cases, forgetting probe; HTML report
    promote(ws, "sql-help", "sql-help-r1")             # refuses a loser (or another base model) unless forced
    run_round(ws, "sql-help")                          # all of it: `mentor iterate APP`
"""

from mentor.apps.cases import build_dataset, mine, read_cases_file
from mentor.apps.compare import compare, promote, rollback
from mentor.apps.loop import run_round, iterations

__all__ = ["build_dataset", "compare", "iterations", "mine", "promote", "read_cases_file", "rollback", "run_round"]
