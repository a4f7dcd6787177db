"""A small English text normaliser for word error rates, after Whisper's ``EnglishTextNormalizer``.

Recognisers write the same words differently ("Mr. Dashwood, 10 of clubs" and
"mister dashwood ten of clubs"); a word error rate should count words heard
wrong, not spelling conventions. Both the reference and the hypothesis go
through :func:`normalize_english`, which does, in order (each rule is one of
Whisper's, simplified; no package on the machine ships Whisper's own):

1. lower case; ``&`` -> ``and``, ``%`` -> ``percent``;
2. titles spelled out: mr -> mister, mrs -> missus, ms -> miss, dr -> doctor;
3. hyphens, dashes and every other punctuation mark become spaces (an
   apostrophe inside a word stays: "don't");
4. hesitations dropped: uh, um, hmm, mm, ah, er, eh;
5. numbers written as digits: spelled numbers are converted ("twenty five"
   -> 25, "one hundred and ten" -> 110, "ten" -> 10), and consecutive single
   digits are joined as Whisper joins them ("five five" -> 55, "5 5" -> 55,
   "two nine three" -> 293); digit groups lose their commas ("1,000" -> 1000).

Not done (Whisper does): British/American spellings, ordinals, currencies,
"oh" as zero.

It lives here, not in the tests, because ``voxflow test`` bounds the word error
rate of what the service heard from a scenario's caller (``wer.py``).
"""

from __future__ import annotations

import re

ONES = {word: value for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    " seventeen eighteen nineteen".split())}
TENS = {word: 10 * value for value, word in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
MULTIPLIERS = {"hundred": 100, "thousand": 1_000, "million": 1_000_000}
TITLES = {"mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor"}
HESITATIONS = {"uh", "um", "hmm", "mm", "ah", "er", "eh"}


def normalize_english(text: str) -> list[str]:
    """The words of ``text`` after the rules above."""
    text = text.lower().replace("&", " and ").replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text)
    words = [TITLES.get(word, word) for word in words if word not in HESITATIONS]
    return _numbers(words)


def _numbers(words: list[str]) -> list[str]:
    out: list[str] = []
    number: _Number | None = None
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word == "and" and number is not None and number.last == "multiplier" and _is_number(following):
            continue  # "one hundred and ten"
        if not _is_number(word):
            if number is not None:
                out.append(number.text())
                number = None
            out.append(word)
            continue
        if number is None or not number.extend(word):
            if number is not None:
                out.append(number.text())
            number = _Number(word)
    if number is not None:
        out.append(number.text())
    return out


def _is_number(word: str) -> bool:
    return word.isdigit() or word in ONES or word in TENS or word in MULTIPLIERS


def _kind(word: str) -> str:
    if word.isdigit():
        return "digit" if len(word) == 1 else "digits"
    if word in ONES:
        return "digit" if ONES[word] < 10 else "teen"
    return "tens" if word in TENS else "multiplier"


def _value(word: str) -> int:
    if word.isdigit():
        return int(word)
    return ONES.get(word, TENS.get(word, MULTIPLIERS.get(word, 0)))


class _Number:
    """A number being read: a sum of ``total`` and a ``part`` under 1,000, or a string of joined digits."""

    def __init__(self, word: str) -> None:
        self.total = 0
        self.part = _value(word)
        self.digits: str | None = None
        self.last = _kind(word)

    def extend(self, word: str) -> bool:
        """Take the next number word if it continues this number (False: a new number starts)."""
        kind, value = _kind(word), _value(word)
        if self.digits is not None or (kind == "digit" and self.last in ("digit", "digits")
                                       and self.total == 0 and self._plain()):
            if kind not in ("digit", "digits"):
                return False
            self.digits = (self.digits if self.digits is not None else str(self.part)) + str(value)
            self.last = kind
            return True
        if kind == "multiplier":
            if value == 100 and self.part < 100:
                self.part = max(self.part, 1) * 100
            elif value > 100:
                self.total += max(self.part, 1) * value
                self.part = 0
            else:
                return False
        elif kind == "digit" and self.last == "tens":
            self.part += value
        elif kind in ("digit", "teen", "tens") and self.last == "multiplier":
            self.part += value
        else:
            return False
        self.last = kind
        return True

    def _plain(self) -> bool:
        """Still a bare digit or digit string (nothing added or multiplied)."""
        return self.last in ("digit", "digits")

    def text(self) -> str:
        return self.digits if self.digits is not None else str(self.total + self.part)
