"""JavaScript value semantics the editor's prompt builder relies on (JSON numbers, String(), truthiness,
dynamic prompts, %date% formats), reproduced in Python for the server-side converter."""

from __future__ import annotations

import math
import random
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

UNDEFINED: Any = object()  # a JavaScript `undefined`: the key is left out of the prompt
MAX_SAFE_INT = 2**53


def wrap(value: Any) -> Any:
    """List values travel as {"__value__": [...]} (arrays mean links in a prompt); numbers as in JS."""
    value = js_json(value)
    return {"__value__": value} if isinstance(value, list) else value


def js_json(value: Any) -> Any:
    """What a value becomes after a JavaScript JSON round trip (one number type, 53-bit integers)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INT else js_json(float(value))
    if isinstance(value, float):  # JS writes integral numbers below 1e21 as integers of <= 17 digits
        return int(Decimal(repr(value))) if value.is_integer() and abs(value) < 1e21 else value
    if isinstance(value, list):
        return [js_json(v) for v in value]
    if isinstance(value, dict):
        return {k: js_json(v) for k, v in value.items() if v is not UNDEFINED}
    return value


def js_str(value: Any) -> str:
    """JavaScript's String(value) for JSON values."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_str(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_str(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def js_number_str(number: float) -> str:
    """Number.prototype.toString(): shortest round-trip digits, exponent only below 1e-6 or from 1e21."""
    if isinstance(number, float) and not math.isfinite(number):
        return "NaN" if math.isnan(number) else ("-" if number < 0 else "") + "Infinity"
    number = js_json(number)
    if isinstance(number, int) or number == 0:
        return str(int(number))
    _, digits, exponent = Decimal(repr(abs(number))).normalize().as_tuple()
    text, point = "".join(map(str, digits)), len(digits) + exponent  # value = 0.<text> * 10**point
    if 0 < point <= 21:
        body = text + "0" * (point - len(text)) if point >= len(text) else f"{text[:point]}.{text[point:]}"
    elif -6 < point <= 0:
        body = "0." + "0" * -point + text
    else:
        mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
        body = f"{mantissa}e{'+' if point > 0 else '-'}{abs(point - 1)}"
    return ("-" if number < 0 else "") + body


def js_round(value: float) -> int:
    return math.floor(value + 0.5)


def truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON value."""
    if value is UNDEFINED or value is None or value is False:
        return False
    if isinstance(value, int | float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def process_dynamic_prompt(text: str, rng: random.Random) -> str:
    """processDynamicPrompt: strip C comments, pick one option of each {a|b|c}; \\ escapes."""
    text = re.sub(r"/\*[\s\S]*?\*/|//[^\n\r\u2028\u2029]*", "", text)
    pos = 0

    def escape() -> str:
        nonlocal pos
        pos += 1
        return "\\" + (text[pos - 1] if pos - 1 < len(text) else "undefined")

    def choice_block() -> str:
        nonlocal pos
        options, choice, depth = [], "", 0
        while pos < len(text):
            char = text[pos]
            pos += 1
            if char == "\\":
                choice += escape()
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                if not depth:
                    break
                depth -= 1
            elif char == "|" and not depth:
                options.append(choice)
                choice = ""
                continue
            choice += char
        options.append(choice)
        return process_dynamic_prompt(options[math.floor(rng.random() * len(options))], rng)

    result = ""
    while pos < len(text):
        char = text[pos]
        pos += 1
        if char == "\\":
            result += escape()
        elif char == "{":
            result += choice_block()
        else:
            result += char
    return re.sub(r"\\([{}|])", r"\1", result)


def format_date(pattern: str, now: datetime) -> str:
    """formatDate of utils/formatUtil.ts: d, M, h, m, s (doubled = zero-padded), yy, yyyy."""
    parts = {"d": now.day, "M": now.month, "h": now.hour, "m": now.minute, "s": now.second}

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == "yy":
            return str(now.year)[2:]
        if token == "yyyy":
            return str(now.year)
        if token[0] in parts:
            return str(parts[token[0]]).rjust(len(token), "0")
        return token

    return re.sub(r"dd?|MM?|hh?|mm?|ss?|yyy?y?", replace, pattern)


def js_key_order(keys: list) -> list:
    """The order `for (k in obj)` visits keys: integer-like keys ascending, then the rest as inserted."""

    def index(key: Any) -> int | None:
        text = str(key)
        return int(text) if text.isdigit() and str(int(text)) == text and int(text) < 2**32 - 1 else None

    numeric = sorted((k for k in keys if index(k) is not None), key=lambda k: index(k))
    return numeric + [k for k in keys if index(k) is None]
