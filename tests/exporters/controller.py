"""An exporter controller as the director provides one, for driving an exporter directly:
it records acknowledged positions and runs scheduled tasks when the test says so."""

from __future__ import annotations

from collections.abc import Callable


class Task:
    def __init__(self, delay_ms: int, action: Callable[[], None]) -> None:
        self.delay_ms = delay_ms
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class RecordingController:
    def __init__(self, last_exported_position: int = -1) -> None:
        self.position = last_exported_position
        self.acknowledged: list[int] = []
        self.tasks: list[Task] = []

    def update_last_exported_position(self, position: int) -> None:
        self.position = position
        self.acknowledged.append(position)

    def get_last_exported_position(self) -> int:
        return self.position

    def schedule_cancellable_task(self, delay_ms: int, task: Callable[[], None]) -> Task:
        scheduled = Task(delay_ms, task)
        self.tasks.append(scheduled)
        return scheduled

    def run_due_tasks(self) -> None:
        due, self.tasks = self.tasks, []
        for task in due:
            if not task.cancelled:
                task.action()
