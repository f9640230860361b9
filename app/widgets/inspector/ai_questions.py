"""A Join's clarifying question answered by taps, one choice at a time.

When the assistant asks how a Join's inputs go together, :class:`QuestionChoices` shows the
question and then, step by step, the columns of the first input, the matching column of
each other input (from the inputs' schemas) and the join type. The taps make one plain
answer (``orders.customer_id = customers.id, left join``), which ``on_answer`` hands back
to be sent with the request. Without known columns (the inputs have not run) only the join
type is offered and the prompt box takes the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kivy.metrics import dp
from kivy.uix.stacklayout import StackLayout
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDButton, MDButtonText
from kivymd.uix.label import MDLabel

JOIN_TYPES = [("inner", "Only rows that match"), ("left", "Every row of the first input"),
              ("full", "Every row of both")]


@dataclass
class InputColumns:
    name: str              # how the user knows the input (its label)
    columns: list[str]


@dataclass
class Step:
    prompt: str
    choices: list[tuple[str, str]]     # (value, text)
    key: str


def steps_for(inputs: Sequence[InputColumns]) -> list[Step]:
    known = [i for i in inputs if i.columns]
    steps: list[Step] = []
    if len(known) >= 2:
        first = known[0]
        for other in known[1:]:
            steps.append(Step(f"Which column of {first.name} matches {other.name}?",
                              [(c, c) for c in first.columns], f"left:{other.name}"))
            steps.append(Step(f"…equal to which column of {other.name}?", [(c, c) for c in other.columns],
                              f"right:{other.name}"))
    steps.append(Step("Which rows to keep?", JOIN_TYPES, "how"))
    return steps


def answer_text(inputs: Sequence[InputColumns], picked: dict[str, str]) -> str:
    known = [i for i in inputs if i.columns]
    parts = []
    if len(known) >= 2:
        for other in known[1:]:
            left, right = picked.get(f"left:{other.name}"), picked.get(f"right:{other.name}")
            if left and right:
                parts.append(f"{known[0].name}.{left} = {other.name}.{right}")
    how = picked.get("how")
    if how:
        parts.append(f"{how} join")
    return ", ".join(parts)


class QuestionChoices(MDBoxLayout):
    __events__ = ("on_answer",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", adaptive_height=True, spacing=dp(6), **kwargs)
        self.question = MDLabel(adaptive_height=True, font_style="Body", role="medium", bold=True)
        self.step_label = MDLabel(adaptive_height=True, font_style="Body", role="small")
        self.choice_box = StackLayout(size_hint_y=None, spacing=dp(6))
        self.choice_box.bind(minimum_height=self.choice_box.setter("height"))
        for widget in (self.question, self.step_label, self.choice_box):
            self.add_widget(widget)
        self.inputs: list[InputColumns] = []
        self.steps: list[Step] = []
        self.picked: dict[str, str] = {}
        self.index = 0

    def ask(self, question: str, inputs: Sequence[InputColumns]) -> None:
        self.question.text = question
        self.inputs, self.steps, self.picked, self.index = list(inputs), steps_for(inputs), {}, 0
        self._show_step()

    @property
    def step(self) -> Step | None:
        return self.steps[self.index] if self.index < len(self.steps) else None

    def choices(self) -> list[MDButton]:
        return list(reversed(self.choice_box.children))

    def choose(self, value: str) -> None:
        step = self.step
        if step is None:
            return
        self.picked[step.key] = value
        self.index += 1
        if self.step is None:
            self.choice_box.clear_widgets()
            answer = answer_text(self.inputs, self.picked)
            self.step_label.text = f"Answer: {answer}"
            self.dispatch("on_answer", answer)
        else:
            self._show_step()

    def _show_step(self) -> None:
        step = self.step
        assert step is not None
        self.step_label.text = f"{step.prompt}  ({self.index + 1} of {len(self.steps)})"
        self.choice_box.clear_widgets()
        for value, text in step.choices:
            button = MDButton(MDButtonText(text=text), style="outlined")
            button.choice_value = value
            button.bind(on_release=lambda b: self.choose(b.choice_value))
            self.choice_box.add_widget(button)

    def on_answer(self, answer: str) -> None:
        pass
