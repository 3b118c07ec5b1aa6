"""Distillation: a smaller student learns a teacher's answers (teacher, student, loss, pipeline, report)."""
