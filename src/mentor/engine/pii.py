"""Personal data in text: e-mail, phone numbers, Chinese resident IDs (ISO 7064 mod 11-2 check digit and a
birth date), payment cards (Luhn) and IBANs (mod 97, length of the country). Numbers that fail their checksum,
and digit runs written as order, tracking or SKU numbers, are not personal data: a digit run glued to letters
(``SF1234567890123``, ``ORD-77812``) or written after an order cue (订单号, order #, tracking ...) is left
alone; a bare 10-11 digit run other than a Chinese mobile number needs a phone cue (电话, call, tel ...).

    find("call 138 1234 5678")  # [Span("phone", 5, 18)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

LABELS = {"email": "[EMAIL]", "phone": "[PHONE]", "cn_id": "[CN_ID]", "card": "[CARD]", "iban": "[IBAN]"}

_A = r"A-Za-z0-9"  # ASCII only: a CJK character next to a number is not part of it (Python's \w would say so)
EMAIL = re.compile(rf"(?<![{_A}._%+-])[{_A}._%+-]+@[{_A}-]+(?:\.[{_A}-]+)*\.[A-Za-z]{{2,24}}(?![{_A}])")
CN_ID = re.compile(rf"(?<![{_A}])[1-9]\d{{5}}(?:18|19|20)\d{{2}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{{3}}[\dXx]"
                   rf"(?![{_A}])")
CARD = re.compile(rf"(?<![{_A}_-])(?:\d{{4}}(?P<s>[ -]?)\d{{4}}(?P=s)\d{{4}}(?P=s)\d{{1,4}}(?:(?P=s)\d{{1,3}})?"
                  rf"|3[47]\d\d(?P<t>[ -]?)\d{{6}}(?P=t)\d{{5}})(?![{_A}_-])")
IBAN = re.compile(rf"(?<![{_A}])[A-Z]{{2}}\d\d(?: ?[A-Z0-9]{{4}}){{2,7}}(?: ?[A-Z0-9]{{1,3}})?(?![{_A}])")
# phones, most specific first; a number right after an order cue is an id, not a phone
CN_MOBILE = re.compile(rf"(?<![{_A}+])(?P<cc>(?:\+|00)\s?86[\s-]?|\(\+?86\)\s?)?1[3-9]\d(?P<s>[\s-]?)\d{{4}}(?P=s)\d{{4}}"
                       rf"(?![{_A}])")
PLUS_PHONE = re.compile(rf"(?<![{_A}+])(?:\+|00)[1-9]\d{{0,2}}[\s.-]?(?:\(\d{{1,4}}\)[\s.-]?)?\d{{1,4}}(?:[\s.-]?\d{{2,4}}){{1,4}}"
                        rf"(?![{_A}])")
US_PHONE = re.compile(rf"(?<![{_A}.-])(?:1[\s.-])?(?:\(\d{{3}}\)\s?|\d{{3}}[.-])\d{{3}}[\s.-]\d{{4}}(?![{_A}-])")
UK_PHONE = re.compile(rf"(?<![{_A}.-])0\d{{3,4}}[\s-]\d{{3}}[\s-]?\d{{3,4}}(?![{_A}-])")
PLAIN_PHONE = re.compile(rf"(?<![{_A}.,-])\d{{10,11}}(?![{_A}.,]\d|[{_A}])")
# an order, tracking or SKU cue right before a number ("订单号：", "order no.", "ORD-", "#") makes it an id
_ORDER_CUE = re.compile(r"(?:订单|单号|运单|快递|物流|编号|货号|发票|(?<![a-z])(?:order|ord|tracking|track|invoice|parcel|shipment|"
                        r"sku|ref|reference)(?![a-z])|#)\s*(?:号码?|编号|number|num|no|id|是|为|is|[#.:：\-])*\s*$", re.IGNORECASE)
_PHONE_CUE = re.compile(r"电话|手机|联系|致电|打给|来电|号码|微信|whatsapp|phone|call|tel\b|mobile|cell|text me|"
                        r"reach me|contact|ring me", re.IGNORECASE)
_CUE_WINDOW = 18  # characters before a number searched for a cue
# ISO 13616 lengths of the countries a shop sees most (an unknown country is not an IBAN: "SF12 3456 ..." is a
# tracking number)
IBAN_LENGTHS = {"AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
                "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
                "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
                "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "AE": 23, "SA": 24, "IL": 23, "BR": 29}


@dataclass(frozen=True)
class Span:
    label: str  # email, phone, cn_id, card, iban
    start: int
    end: int


def find(text: str) -> list[Span]:
    """Personal data in ``text``, non-overlapping, in order. Kinds are tried most specific first (e-mail,
    IBAN, resident ID, card, phone); a later candidate overlapping an earlier one is dropped."""
    spans: list[Span] = []

    def add(label: str, m: re.Match) -> None:
        if not any(s.start < m.end() and m.start() < s.end for s in spans):
            spans.append(Span(label, m.start(), m.end()))

    for m in EMAIL.finditer(text):
        add("email", m)
    for m in IBAN.finditer(text):
        if iban_ok(m.group()):
            add("iban", m)
    for m in CN_ID.finditer(text):
        if cn_id_ok(m.group()):
            add("cn_id", m)
    for m in CARD.finditer(text):
        digits = _digits(m.group())
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits) and not _order_id(text, m.start()):
            add("card", m)
    for pattern in (CN_MOBILE, PLUS_PHONE, US_PHONE, UK_PHONE):
        for m in pattern.finditer(text):
            if 8 <= len(_digits(m.group())) <= 15 and not _order_id(text, m.start()):
                add("phone", m)
    for m in PLAIN_PHONE.finditer(text):  # another bare 10-11 digit run is a phone only after a phone cue
        if not _order_id(text, m.start()) and _PHONE_CUE.search(text[max(0, m.start() - _CUE_WINDOW):m.start()]):
            add("phone", m)
    return sorted(spans, key=lambda s: s.start)


def redact(text: str, spans: list[Span]) -> str:
    """``text`` with each span replaced by its placeholder ([EMAIL], [PHONE], ...)."""
    out, at = [], 0
    for s in sorted(spans, key=lambda s: s.start):
        out += [text[at:s.start], LABELS[s.label]]
        at = s.end
    return "".join(out) + text[at:]


def _order_id(text: str, start: int) -> bool:
    """Whether the number at ``start`` is written as an order, tracking or SKU number."""
    return bool(_ORDER_CUE.search(text[max(0, start - _CUE_WINDOW):start]))


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def luhn_ok(digits: str) -> bool:
    """The Luhn check of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def cn_id_ok(value: str) -> bool:
    """GB 11643 (ISO 7064 mod 11-2) check character over the first 17 digits, and a real past birth date."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    remainder = sum(int(d) * w for d, w in zip(value[:17], weights)) % 11
    if "10X98765432"[remainder] != value[17].upper():
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return date(1890, 1, 1) <= born <= date.today()


def iban_ok(value: str) -> bool:
    """The mod-97 check of an IBAN (spaces allowed) and its country's length."""
    compact = value.replace(" ", "")
    if len(compact) != IBAN_LENGTHS.get(compact[:2]):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1
