"""A taskiq middleware counting task executions by task name and outcome."""

from typing import Any

from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from coagent.adapters.observability import metrics


class TaskMetrics(TaskiqMiddleware):
    """Worker side: one count and one duration per execution, `ok` or `error`."""

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        metrics.task_ran(
            message.task_name, "error" if result.is_err else "ok", result.execution_time
        )
