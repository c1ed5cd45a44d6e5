"""UI-TARS answers to typed actions: every grammar form, the pixel rounding, typed errors only.

The rounding under test (stated in ``doubao_vision.uitars._parse``): a grid value ``v``
on an axis of ``size`` pixels becomes ``floor(v * size / factor + 1/2)``; a value above
``factor`` is an absolute pixel (per axis for a box); results are clamped into
``[0, size - 1]``; a box's point is its centre on the grid. ``expected_pixel`` below
re-derives that in integer arithmetic, independently of the implementation.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doubao_vision import ActionParseError
from doubao_vision.uitars import (
    Action,
    CallUser,
    Click,
    CoordinateForm,
    DoubleClick,
    Drag,
    Finished,
    Hotkey,
    LongPress,
    OpenApp,
    PressBack,
    PressHome,
    RightClick,
    Scroll,
    Step,
    Type,
    Wait,
    computer_prompt,
    format_action,
    mobile_prompt,
    parse_actions,
)

FACTOR = 1000
FORMS: tuple[CoordinateForm, ...] = ("point", "tuple", "list", "bbox", "box_token")
BOX_FORMS = ("list", "bbox")
Box = tuple[int, int, int, int]

# -- the rounding, independently ------------------------------------------------------


def expected_pixel(twice: int, size: int, absolute: bool) -> int:
    """``twice`` is 2 * v (so a box centre stays an integer): round half up, clamp."""
    raw = (twice + 1) // 2 if absolute else (twice * size + FACTOR) // (2 * FACTOR)
    return min(max(raw, 0), size - 1)


def expected_place(
    numbers: tuple[int, ...], width: int, height: int
) -> tuple[int, int, Box | None]:
    xs, ys = numbers[0::2], numbers[1::2]
    x_abs, y_abs = max(xs) > FACTOR, max(ys) > FACTOR
    twice_x = 2 * xs[0] if len(xs) == 1 else xs[0] + xs[1]
    twice_y = 2 * ys[0] if len(ys) == 1 else ys[0] + ys[1]
    x = expected_pixel(twice_x, width, x_abs)
    y = expected_pixel(twice_y, height, y_abs)
    if len(numbers) == 2:
        return x, y, None
    box = (
        expected_pixel(2 * xs[0], width, x_abs),
        expected_pixel(2 * ys[0], height, y_abs),
        expected_pixel(2 * xs[1], width, x_abs),
        expected_pixel(2 * ys[1], height, y_abs),
    )
    return x, y, box


def written(x: int, y: int, box: Box | None, form: CoordinateForm) -> tuple[int, ...]:
    """The numbers ``format_action`` writes for one position in ``form``."""
    if form in BOX_FORMS:
        return box if box is not None else (x, y, x, y)
    return (x, y)


def to_pixels(action: Action, form: CoordinateForm, width: int, height: int) -> Action:
    """What parsing ``format_action(action, form)`` must give for a (width, height) screenshot."""
    if isinstance(action, (Click, DoubleClick, RightClick, LongPress)):
        return type(action)(
            *expected_place(written(action.x, action.y, action.box, form), width, height)
        )
    if isinstance(action, Drag):
        sx, sy, sbox = expected_place(
            written(action.start_x, action.start_y, action.start_box, form), width, height
        )
        ex, ey, ebox = expected_place(
            written(action.end_x, action.end_y, action.end_box, form), width, height
        )
        return Drag(sx, sy, ex, ey, sbox, ebox)
    if isinstance(action, Scroll) and action.x is not None and action.y is not None:
        place = expected_place(written(action.x, action.y, action.box, form), width, height)
        return Scroll(action.direction, *place)
    return action


# -- strategies: actions on the grid (values above FACTOR are absolute pixels) ---------

coord = st.integers(0, 3 * FACTOR)
boxes = st.none() | st.tuples(coord, coord, coord, coord)
free_text = st.text(st.characters(codec="utf-8"), max_size=40)
keys = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)


def pointed(cls: type[Click | DoubleClick | RightClick | LongPress]) -> st.SearchStrategy[Action]:
    return st.builds(cls, coord, coord, boxes)


actions: st.SearchStrategy[Action] = st.one_of(
    pointed(Click),
    pointed(DoubleClick),
    pointed(RightClick),
    pointed(LongPress),
    st.builds(Drag, coord, coord, coord, coord, boxes, boxes),
    st.builds(Hotkey, st.lists(keys, min_size=1, max_size=3)),
    st.builds(Type, free_text.filter(lambda s: not s.endswith("\n")), st.booleans()),
    st.builds(Scroll, st.sampled_from(["up", "down", "left", "right"])),
    st.builds(Scroll, st.sampled_from(["up", "down", "left", "right"]), coord, coord, boxes),
    st.just(Wait()),
    st.builds(Finished, free_text),
    st.builds(CallUser, free_text),
    st.builds(OpenApp, free_text.filter(lambda s: bool(s) and s.strip() == s)),
    st.just(PressHome()),
    st.just(PressBack()),
)
sizes = st.tuples(st.integers(15, 5000), st.integers(15, 5000))
# Header text that cannot itself look like a header.
prose = st.text(string.ascii_letters + string.digits + " ,.!?'\"()-", min_size=1, max_size=60)
colons = st.sampled_from([":", "\uff1a"])


# -- round trips -----------------------------------------------------------------------


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(actions, st.sampled_from(FORMS), sizes)
def test_one_action_round_trips_in_every_form(
    action: Action, form: CoordinateForm, size: tuple[int, int]
) -> None:
    """A formatted action parses back to itself, in pixels by the stated rounding."""
    text = f"Thought: do it\nAction: {format_action(action, form)}"
    step = parse_actions(text, image_size=size, factor=FACTOR)
    assert step.actions == (to_pixels(action, form, *size),)
    assert step.thought == "do it"


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(actions, min_size=1, max_size=4),
    st.sampled_from(FORMS),
    sizes,
    prose,
    colons,
    st.sampled_from(["thought", "reflection", "summary", "none"]),
)
def test_several_actions_and_headers_round_trip(
    many: list[Action],
    form: CoordinateForm,
    size: tuple[int, int],
    words: str,
    colon: str,
    headers: str,
) -> None:
    """Blank-line-separated actions after any header style and either colon all come back."""
    body = "\n\n".join(format_action(action, form) for action in many)
    lead = {
        "thought": f"Thought{colon} {words}\n",
        "reflection": f"Reflection{colon} {words}\nAction_Summary{colon} sum\n",
        "summary": f"Action_Summary{colon} {words}\n",
        "none": "",
    }[headers]
    step = parse_actions(f"{lead}Action{colon} {body}", image_size=size)
    assert step.actions == tuple(to_pixels(action, form, *size) for action in many)
    assert step.thought == (words.strip() if headers == "thought" else None)
    assert step.reflection == (words.strip() if headers == "reflection" else None)
    summary = {"reflection": "sum", "summary": words.strip()}.get(headers)
    assert step.action_summary == summary


@settings(max_examples=200)
@given(st.integers(0, FACTOR), st.integers(0, FACTOR), sizes)
def test_grid_edges_land_inside_the_screenshot(gx: int, gy: int, size: tuple[int, int]) -> None:
    """0 maps to pixel 0, 1000 to the last pixel; nothing falls outside the screenshot."""
    width, height = size
    step = parse_actions(f"Action: click(point='<point>{gx} {gy}</point>')", image_size=size)
    click = step.actions[0]
    assert isinstance(click, Click)
    assert 0 <= click.x < width and 0 <= click.y < height
    if gx == 0:
        assert click.x == 0
    if gx == FACTOR:
        assert click.x == width - 1


def test_decimal_coordinates_are_exact() -> None:
    """Decimals are read exactly: 0.5 px above a half rounds up, never float noise."""
    step = parse_actions("Action: click(start_box='(100.25,0.5)')", image_size=(2000, 1000))
    assert step.actions == (Click(201, 1),)  # 200.5 -> 201, 0.5 -> 1 (half up)


def test_values_above_the_factor_are_absolute_pixels() -> None:
    """As UI-TARS-desktop does: a value over 1000 is a pixel, decided per axis of a box."""
    step = parse_actions(
        "Action: click(start_box='[1200, 100, 1400, 300]')", image_size=(1920, 1080)
    )
    # x axis absolute (1400 > 1000): centre 1300; y on the grid: 200 -> 216.
    assert step.actions == (Click(1300, 216, (1200, 108, 1400, 324)),)


# -- real-looking answers, table-driven ------------------------------------------------

SIZE = (1920, 1080)
TABLE: list[tuple[str, str, Step]] = [
    (
        "doubao point",
        "Thought: The search box is at the top. I click it to start typing.\n"
        "Action: click(point='<point>512 88</point>')",
        Step(
            "The search box is at the top. I click it to start typing.",
            None,
            None,
            [Click(983, 95)],
        ),
    ),
    (
        "full-width colons",
        "Thought：我需要打开设置。\nAction：click(point='<point>100 950</point>')",
        Step("我需要打开设置。", None, None, [Click(192, 1026)]),
    ),
    (
        "start_box tuple (UI-TARS-1.5)",
        "Thought: Click the file menu.\nAction: click(start_box='(197,525)')",
        Step("Click the file menu.", None, None, [Click(378, 567)]),
    ),
    (
        "start_box 4-list (15B prompt)",
        "Thought: Open the link.\nAction: left_double(start_box='[230, 412, 270, 430]')",
        Step("Open the link.", None, None, [DoubleClick(480, 455, (442, 445, 518, 464))]),
    ),
    (
        "bbox (Ark GUI doc appendix)",
        "Thought: Click the send button.\nAction: click(start_box='<bbox>859 950 859 950</bbox>')",
        Step("Click the send button.", None, None, [Click(1649, 1026, (1649, 1026, 1649, 1026))]),
    ),
    (
        "box tokens (UI-TARS-desktop)",
        "Thought: Right-click the icon.\n"
        "Action: right_single(start_box='<|box_start|>(640,360)<|box_end|>')",
        Step("Right-click the icon.", None, None, [RightClick(1229, 389)]),
    ),
    (
        "drag with points",
        "Thought: Move the slider to the right.\n"
        "Action: drag(start_point='<point>300 500</point>', end_point='<point>700 500</point>')",
        Step("Move the slider to the right.", None, None, [Drag(576, 540, 1344, 540)]),
    ),
    (
        "drag with start_box/end_box tokens",
        "Thought: Drag the file.\nAction: drag(start_box='<|box_start|>(100,100)<|box_end|>', "
        "end_box='<|box_start|>(900,900)<|box_end|>')",
        Step("Drag the file.", None, None, [Drag(192, 108, 1728, 972)]),
    ),
    (
        "hotkey as a key list",
        "Thought: Copy the selection.\nAction: hotkey(key='ctrl c')",
        Step("Copy the selection.", None, None, [Hotkey(["ctrl", "c"])]),
    ),
    (
        "type with escapes and submit",
        "Thought: Search for it.\nAction: type(content='It\\'s a \\\"test\\\"\\n')",
        Step("Search for it.", None, None, [Type('It\'s a "test"', submit=True)]),
    ),
    (
        "type with an unescaped apostrophe",
        "Thought: Type the name.\nAction: type(content='O'Brien')",
        Step("Type the name.", None, None, [Type("O'Brien")]),
    ),
    (
        "type with an inner newline",
        "Thought: Two lines.\nAction: type(content='first\\nsecond')",
        Step("Two lines.", None, None, [Type("first\nsecond")]),
    ),
    (
        "scroll",
        "Thought: See more results.\n"
        "Action: scroll(point='<point>500 600</point>', direction='down')",
        Step("See more results.", None, None, [Scroll("down", 960, 648)]),
    ),
    (
        "wait",
        "Thought: The page is loading.\nAction: wait()",
        Step("The page is loading.", None, None, [Wait()]),
    ),
    (
        "finished with content",
        "Thought: Done.\nAction: finished(content='The flight costs \\'$420\\'.')",
        Step("Done.", None, None, [Finished("The flight costs '$420'.")]),
    ),
    (
        "call_user",
        "Thought: I need the password.\nAction: call_user()",
        Step("I need the password.", None, None, [CallUser()]),
    ),
    (
        "mobile actions",
        "Thought: Open the app, go home and back.\n"
        "Action: open_app(app_name='Settings')\n\npress_home()\n\npress_back()\n\n"
        "long_press(point='<point>500 500</point>')",
        Step(
            "Open the app, go home and back.",
            None,
            None,
            [OpenApp("Settings"), PressHome(), PressBack(), LongPress(960, 540)],
        ),
    ),
    (
        "several actions separated by blank lines",
        "Thought: Select all and copy.\nAction: hotkey(key='ctrl a')\n\nhotkey(key='ctrl c')",
        Step("Select all and copy.", None, None, [Hotkey(["ctrl", "a"]), Hotkey(["ctrl", "c"])]),
    ),
    (
        "reflection and action summary",
        "Reflection: The last click missed.\nAction_Summary: Click the OK button.\n"
        "Action: click(point='<point>800 900</point>')",
        Step(None, "The last click missed.", "Click the OK button.", [Click(1536, 972)]),
    ),
    (
        "action summary only",
        "Action_Summary: Press enter.\nAction: hotkey(key='enter')",
        Step(None, None, "Press enter.", [Hotkey(["enter"])]),
    ),
    (
        "one line",
        "Thought: go Action: click(point='<point>0 0</point>')",
        Step("go", None, None, [Click(0, 0)]),
    ),
    (
        "code fence and CRLF",
        "```\r\nThought: fenced\r\nAction: wait()\r\n```",
        Step("fenced", None, None, [Wait()]),
    ),
    (
        "reasoning in the content",
        "<think>Where is the menu?</think>\nThought: It is on the left.\nAction: wait()",
        Step("It is on the left.", None, None, [Wait()]),
    ),
    (
        "bare action (grounding prompt)",
        "click(point='<point>250 750</point>')",
        Step(None, None, None, [Click(480, 810)]),
    ),
    (
        "double-quoted values",
        'Thought: quotes\nAction: scroll(start_box="(10,20)", direction="UP")',
        Step("quotes", None, None, [Scroll("up", 19, 22)]),
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [row[1:] for row in TABLE], ids=[r[0] for r in TABLE]
)
def test_real_looking_answers(text: str, expected: Step) -> None:
    """Each form the models emit parses to the typed step, in 1920x1080 pixels."""
    step = parse_actions(text, image_size=SIZE)
    assert step == expected
    assert step.text == text


def test_step_done_means_finished_or_call_user() -> None:
    """Step.done is true exactly when an action ends the task."""
    assert parse_actions("Action: finished()", image_size=SIZE).done
    assert parse_actions("Action: call_user()", image_size=SIZE).done
    assert not parse_actions("Action: wait()", image_size=SIZE).done


# -- malformed input: ActionParseError and nothing else --------------------------------

MALFORMED = [
    "",
    "   \n  ",
    "Thought: nothing to do",
    "Thought: a\nThought: b\nAction: wait()",
    "I think I should click.\nAction: wait()",
    "Action:",
    "Action: click",
    "Action: click(",
    "Action: click()",
    "Action: click(point='<point>1 2</point>'",
    "Action: click(point='<point>1 2</point>') click(point='<point>1 2</point>')",
    "Action: click(point='<point>1</point>')",
    "Action: click(point='<point>1 2 3</point>')",
    "Action: click(point='<point>-1 2</point>')",
    "Action: click(point='<point>1e3 2</point>')",
    "Action: click(point='<point>１ ２</point>')",
    "Action: click(point='<point>1 2')",
    "Action: click(point='(1,2')",
    "Action: click(point='[1, 2, 3]')",
    "Action: click(point=<point>1 2</point>)",
    "Action: click('<point>1 2</point>')",
    "Action: click(point='<point>1 2</point>', point='<point>1 2</point>')",
    "Action: click(point='<point>1 2</point>', start_box='(1,2)')",
    "Action: click(point='<point>1 2</point>', button='left')",
    "Action: drag(start_point='<point>1 2</point>')",
    "Action: scroll(point='<point>1 2</point>')",
    "Action: scroll(direction='diagonal')",
    "Action: hotkey(key='   ')",
    "Action: hotkey()",
    "Action: type()",
    "Action: type(content='never closed)",
    "Action: open_app(app_name='  ')",
    "Action: teleport(point='<point>1 2</point>')",
    "Action: wait(5)",
    "Action: wait() # sleep",
    "Action: press_home(now='yes')",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_answers_raise_action_parse_error(text: str) -> None:
    """Text outside the grammar raises ActionParseError with the offending line."""
    with pytest.raises(ActionParseError) as info:
        parse_actions(text, image_size=SIZE)
    assert isinstance(info.value.line, str)
    assert info.value.line in text.replace("\r\n", "\n") or info.value.line == ""


VALID_ANSWERS = [
    "Thought: x\nAction: click(point='<point>12 34</point>')",
    "Action: drag(start_box='[1, 2, 3, 4]', end_box='<bbox>5 6 7 8</bbox>')",
    "Thought：y\nAction：type(content='a \\'b\\' c\\n')",
    "Action: scroll(start_box='<|box_start|>(9,9)<|box_end|>', direction='left')",
    "Action: hotkey(key='ctrl shift t')",
    "Action: finished(content='done')",
]


@settings(max_examples=300)
@given(st.sampled_from(VALID_ANSWERS), st.data())
def test_any_truncated_action_raises(answer: str, data: st.DataObject) -> None:
    """Cutting an answer anywhere inside its action call raises ActionParseError."""
    start = answer.index("Action")
    cut = data.draw(st.integers(start, len(answer) - 1))
    with pytest.raises(ActionParseError):
        parse_actions(answer[:cut], image_size=SIZE)


@settings(max_examples=300)
@given(
    st.sampled_from(["click", "left_double", "long_press"]),
    st.text(max_size=30).filter(
        lambda s: (
            re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?[\s,]+[0-9]+(\.[0-9]+)?\s*", s) is None
            and re.fullmatch(r"\s*([0-9]+(\.[0-9]+)?[\s,]+){3}[0-9]+(\.[0-9]+)?\s*", s) is None
        )
    ),
    st.sampled_from(["<point>{}</point>", "<bbox>{}</bbox>", "({})", "[{}]", "{}"]),
)
def test_bad_coordinates_raise(name: str, inside: str, wrapper: str) -> None:
    """Anything but 2 or 4 non-negative ASCII numbers in a point raises ActionParseError."""
    value = wrapper.format(inside).replace("\\", "\\\\").replace("'", "\\'")
    with pytest.raises(ActionParseError):
        parse_actions(f"Action: {name}(point='{value}')", image_size=SIZE)


def parse_or_error(text: str) -> Step | ActionParseError:
    try:
        return parse_actions(text, image_size=SIZE)
    except ActionParseError as exc:
        return exc


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_action_parse_error(text: str) -> None:
    """Random text either parses or raises ActionParseError, never another exception."""
    result = parse_or_error(text)
    assert isinstance(result, (Step, ActionParseError))
    if isinstance(result, ActionParseError):
        assert isinstance(result.line, str)


@settings(max_examples=500)
@given(st.sampled_from(VALID_ANSWERS), st.data())
def test_corrupted_answers_raise_only_action_parse_error(answer: str, data: st.DataObject) -> None:
    """A valid answer with random text spliced in parses or raises ActionParseError only."""
    at = data.draw(st.integers(0, len(answer)))
    drop = data.draw(st.integers(0, 5))
    noise = data.draw(st.text(alphabet="()[]<>'\",=\\ \n\uff1a:abc0123.|_/", max_size=6))
    result = parse_or_error(answer[:at] + noise + answer[at + drop :])
    assert isinstance(result, (Step, ActionParseError))


def test_bad_image_size_is_a_value_error() -> None:
    """A non-positive screenshot size is the caller's bug: ValueError, before any parsing."""
    with pytest.raises(ValueError, match="positive"):
        parse_actions("Action: wait()", image_size=(0, 10))


# -- prompts ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [computer_prompt, mobile_prompt])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_action_in_a_prompt_parses(make: Callable[..., str], language: str) -> None:
    """Each line of a prompt's action space, with numbers filled in, is in the grammar."""
    prompt = make("Open {the} settings", language=language)
    assert prompt.rstrip().endswith("Open {the} settings")
    space = prompt.split("## Action Space\n", 1)[1].split("\n\n", 1)[0]
    lines = space.strip().splitlines()
    assert len(lines) == 10
    for line in lines:
        line = re.sub(r"x(\d) y(\d)", r"1\1 2\2", line)
        line = line.replace("'down or up or right or left'", "'down'")
        step = parse_actions(f"Thought: try\nAction: {line}", image_size=SIZE)
        assert len(step.actions) == 1


def test_prompt_languages_and_kinds_differ() -> None:
    """zh asks for a Chinese Thought, en for English; mobile has apps, computer hotkeys."""
    assert "使用中文" in computer_prompt("x", language="zh")
    assert "in English" in computer_prompt("x")
    assert "open_app" in mobile_prompt("x") and "open_app" not in computer_prompt("x")
    assert "hotkey(" in computer_prompt("x") and "hotkey(" not in mobile_prompt("x")
    with pytest.raises(ValueError, match="language"):
        computer_prompt("x", language="fr")  # type: ignore[arg-type]
