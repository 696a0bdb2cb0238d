"""Task axis: which records and labels, target encoding, heads, loss and metrics. Tasks never import models or
representations."""
from tasks.base import TASKS, Task, register_task

__all__ = ["TASKS", "Task", "register_task"]
