"""Student names: what is stored, and when two names are the same student.

* Stored form: Unicode NFC with surrounding white space removed, so a
  decomposed "Zoe\u0301" and a composed "Zo\u00e9" are one spelling.
* Identity key: NFKC then casefold (Unicode's NFKC_Casefold recipe:
  NFKC(casefold(NFKC(x)))). NFC alone keeps full-width "\uff21hmed", ligatures,
  superscripts and no-break spaces distinct from their plain look-alikes;
  NFKC folds those compatibility forms, and casefold also makes "AHMED" or
  "ahmed" the same student as "Ahmed" (a reader cannot tell them apart as
  people). Cross-script confusables (Cyrillic "\u0410" for Latin "A") are not
  caught: that needs UTS #39 skeletons.
"""

from __future__ import annotations

import unicodedata


def normalize(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip()


def identity(name: str) -> str:
    once = unicodedata.normalize("NFKC", name)
    return unicodedata.normalize("NFKC", once.casefold()).strip()
