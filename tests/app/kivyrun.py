"""Driving a real Kivy window from tests: frames, waiting, touches, screenshots.

Touches are ``kivy.tests.common.UnitTestTouch`` objects in window coordinates; helpers here
only add what those lack (mouse buttons, the wheel, several fingers at once).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from kivy.base import EventLoop
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.tests.common import UnitTestTouch

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("DAGFLUX_TEST_ARTIFACTS", REPO / "test-artifacts"))


def pump(frames: int = 1) -> None:
    for _ in range(frames):
        EventLoop.idle()


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        EventLoop.idle()
        time.sleep(0.005)


def pause(seconds: float) -> None:
    """Let real time pass while frames keep running (long-press timers use the clock)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        EventLoop.idle()
        time.sleep(0.01)


@contextmanager
def running(app) -> Iterator:
    """Build ``app`` into the window and run frames by hand; stop it afterwards."""
    app._run_prepare()
    pump(3)
    try:
        yield app
    finally:
        roots = [app.root, *Window.children]
        app.stop()
        # App.stop() removes the window's children while iterating over them, so with a
        # snackbar (or a menu) still open it skips the root: the next app's touches would
        # reach this one's widgets first.
        for child in list(Window.children):
            Window.remove_widget(child)
        _free(roots)
        for event in Clock.get_events():  # nothing of this app may run inside the next one
            event.cancel()


def _free(roots: Sequence) -> None:
    """Let a stopped app's widgets go, or the test session keeps every app it ran, 20–30 MiB
    of framebuffers and textures each (6 GiB over the app tests):

    * an animation still running holds its widget in ``Animation._instances`` until it
      ends, and with the clock events cancelled below it never would: cancel it;
    * Kivy's Builder keeps a tree with a kv rule watching ``ids`` (see app.widgets.release).

    Screens that are not shown are not children of their ScreenManager: walked on their own."""
    from kivy.animation import Animation
    from kivy.uix.screenmanager import ScreenManager

    from app.widgets.release import release

    pending = [r for r in roots if r is not None]
    seen: set[int] = set()
    while pending:
        root = pending.pop()
        if id(root) in seen:
            continue
        seen.add(id(root))
        for widget in root.walk(restrict=True):
            Animation.cancel_all(widget)
            if isinstance(widget, ScreenManager):
                pending += [screen for screen in widget.screens if id(screen) not in seen]
        release(root)


def touch(x: float, y: float, button: str | None = None) -> UnitTestTouch:
    t = UnitTestTouch(x, y)
    if button is not None:
        t.button = button
        t.profile = list(t.profile) + ["button"]
    return t


def delivered(t: UnitTestTouch) -> bool:
    """True once every widget the touch went to has had its touch-up.

    A ScrollView holds a short tap to see whether it becomes a scroll; when it is lifted as
    a tap it replays the press to its content and also schedules a second release ``0.2 s``
    later from a clock callback (``ScrollView._do_touch_up``) for whatever grabbed the touch
    meanwhile. Waiting for that callback means the next touch never overlaps this one."""
    return not _pending_releases(t)


def _pending_releases(t: UnitTestTouch) -> list:
    """The clock events that will still deliver ``t``'s release (see :func:`delivered`)."""
    pending = []
    for event in Clock.get_events():
        callback = event.get_callback()
        if isinstance(callback, partial) and getattr(callback.func, "__name__", "") == "_do_touch_up" \
                and any(arg is t for arg in callback.args):
            pending.append(event)
    return pending


def _releases_said(t: UnitTestTouch) -> str:
    """What a tap still waits for, for a failure message: each ScrollView's scheduled release
    (its timeout and how long ago it was scheduled by the clock), and the clock's state."""
    said = []
    for event in _pending_releases(t):
        view = getattr(event.get_callback().func, "__self__", None)
        said.append(f"{type(view).__name__}(id {id(view):#x}, parent {type(getattr(view, 'parent', None)).__name__}) "
                    f"timeout {event.timeout:g} s, scheduled {Clock.get_time() - event._last_dt:.2f} s ago")
    return (f"{'; '.join(said) or 'nothing'}; clock frames {Clock.frames}, "
            f"{len(Clock.get_events())} events pending")


def sliding() -> bool:
    """True while a ScreenManager in the window is changing screens: it ignores every touch
    until the transition ends (a finger cannot act on a screen still sliding in)."""
    from kivy.uix.screenmanager import ScreenManager

    return any(isinstance(w, ScreenManager) and w.transition.is_active
               for root in Window.children for w in root.walk(restrict=True))


def tap(x: float, y: float, button: str | None = None, frames: int = 2, held: int = 1) -> None:
    """A tap once no screen is sliding in (see ``sliding``): down, ``held`` frames, up, then
    frames until the release has reached every widget (see ``delivered``). ``held=0`` sends
    down and up in one frame, so no layout pass can move the widget between them (a button
    only fires when the finger lifts on it)."""
    wait_until(lambda: not sliding(), 15, "the screen change to end before the tap")
    t = touch(x, y, button)
    t.touch_down()
    pump(held)
    t.touch_up()
    try:
        wait_until(lambda: delivered(t), 15, "the tap's release to reach the widgets")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still scheduled: {_releases_said(t)}") from None
    pump(frames)


def tap_widget(widget, button: str | None = None, held: int = 1) -> None:
    """Tap the centre of ``widget`` where it is once no screen is sliding in and the layout
    has settled (a position read mid-slide is stale by the time the finger lands)."""
    wait_until(lambda: not sliding(), 15, "the screen change to end before the tap")
    settle()
    tap(*widget.to_window(*widget.center), button=button, held=held)


def settle(max_frames: int = 120) -> None:
    """Frames until nothing is due on the next frame: no pending ``Clock`` callback or trigger
    with a zero or negative timeout (the chain a layout change sets off — text set, lines
    computed, heights, positions — is made of those). Timed callbacks (a cursor blink), running
    animations and the app's frame collector (due on every frame for as long as the app runs:
    :mod:`app.collector`) do not count."""
    from kivy.animation import Animation

    from app.collector import FrameCollector

    def layout_work(event) -> bool:     # an animation runs on time, not on frames: not counted
        return event.is_triggered and event.timeout <= 0 and not isinstance(
            getattr(event.get_callback(), "__self__", None), (Animation, FrameCollector))

    for _ in range(max_frames):
        if not any(layout_work(event) for event in Clock.get_events()):
            return
        pump(1)


def drag(start: Sequence[float], end: Sequence[float], steps: int = 8, button: str | None = None) -> None:
    """A finger pressed at ``start``, moved to ``end`` in ``steps`` frames and lifted, once no
    screen is sliding in (see ``sliding``: a ScreenManager ignores touches meanwhile)."""
    wait_until(lambda: not sliding(), 15, "the screen change to end before the drag")
    t = touch(*start, button=button)
    t.touch_down()
    pump(1)
    for i in range(1, steps + 1):
        f = i / steps
        t.touch_move(start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f)
        pump(1)
    t.touch_up()
    pump(2)


def gesture(paths: Sequence[tuple[Sequence[float], Sequence[float]]], steps: int = 8) -> None:
    """Several fingers down together, moving in step from their start to their end points
    (once no screen is sliding in)."""
    wait_until(lambda: not sliding(), 15, "the screen change to end before the gesture")
    fingers = [touch(*start) for start, _ in paths]
    for f in fingers:
        f.touch_down()
    pump(1)
    for i in range(1, steps + 1):
        k = i / steps
        for f, (start, end) in zip(fingers, paths):
            f.touch_move(start[0] + (end[0] - start[0]) * k, start[1] + (end[1] - start[1]) * k)
        pump(1)
    for f in fingers:
        f.touch_up()
    pump(2)


def wheel(x: float, y: float, direction: str = "up") -> None:
    """One mouse-wheel notch at (x, y): Kivy's ``scrollup`` zooms in… as the canvas defines."""
    t = touch(x, y, button="scroll" + direction)  # is_mouse_scrolling follows from the button
    t.touch_down()
    pump(1)
    t.touch_up()
    pump(1)


def screenshot(name: str) -> Path:
    """Save the window to ``test-artifacts/<name>.png`` and return the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pump(2)
    saved = Path(Window.screenshot(name=str(ARTIFACTS / f"{name}.png")))
    final = ARTIFACTS / f"{name}.png"
    saved.replace(final)  # Kivy appends a counter; keep a stable name
    return final


def themed_shots(app, name: str, before=None) -> None:
    """Screenshot the window in the light and then the dark theme as ``name`` with ``{theme}``
    replaced (``light``/``dark``), checking each is not blank; ``before()`` runs after each
    theme change (to scroll something into view). Leaves the light theme on."""
    try:
        for theme in ("light", "dark"):
            app.apply_theme(theme)
            pump(4)
            if before is not None:
                before()
                pump(2)
            settle()
            assert non_blank(screenshot(name.format(theme=theme))), f"{name}: {theme} screenshot is blank"
    finally:
        app.apply_theme("light")
        pump(2)


def non_blank(path: Path, min_colours: int = 8) -> bool:
    """True when the image has real content: many distinct colours, not one flat fill."""
    from kivy.core.image import Image as CoreImage

    image = CoreImage(str(path), keep_data=True)
    w, h = image.size
    colours = set()
    for i in range(0, 400):
        x, y = (i * 7919) % w, (i * 104729) % h
        colours.add(tuple(image.read_pixel(x, y)))
    return len(colours) >= min_colours
