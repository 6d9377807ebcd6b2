"""Name pools by origin and the spellings each organisation might write them in.

The pools are the origins of presumed victims registered in the Netherlands (:data:`ORIGINS`):
Dutch, Eastern-European (Romanian, Bulgarian, Polish, Hungarian, Ukrainian, Czech), West-African
(Nigerian, Ghanaian, Guinean, Sierra Leonean, Ivorian), Latin-American (Colombian, Venezuelan,
Dominican, Brazilian) and Asian (Vietnamese, Chinese, Thai, Filipino) names, with their accents.
Within a pool no two names share a matching form (``node.identifiers.normalise``).

Every name has two lists of spellings (:func:`spellings`):

* **soft** — what ``normalise`` reconciles with the name: upper or lower case, accents left off
  where a letter decomposes (é, ș, ễ, ñ…), decomposed accents (NFD), doubled or non-breaking
  spaces between words, the hyphen or apostrophe written as a dash, a typographic quote or left
  out. The first soft spelling is the name itself.
* **hard** — what it does *not* reconcile: letters that carry no combining accent written
  plain (ł→l, đ→d, ø→o), transliterations (Shevchenko/Sjevtsjenko), a hyphen written as a space,
  Dutch particles run together (van den Berg/Vandenberg), a second given name left out, a
  doubled or undoubled letter. Every name has at least one.

Both lists are checked against ``normalise`` when they are built, so a soft spelling can never
silently become a different identifier.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from node.identifiers import normalise


@dataclass(frozen=True)
class Origin:
    """Where a group of people comes from: its share, nationality, exploitation profile, names.

    ``profile`` indexes the exploitation weights of ``population.py`` (0 Dutch, 1 Eastern
    Europe, 2 West Africa, 3 Latin America, 4 Asia). Names are space-separated; ``given_multi``
    and ``family_multi`` hold names of several words.
    """

    name: str
    share: float
    nationality: str
    profile: int
    given: str
    family: str
    given_multi: tuple[str, ...] = ()
    family_multi: tuple[str, ...] = ()


ORIGINS = (
    Origin("dutch", 0.34, "Netherlands", 0,
           "Anouk Saskia Zoë Chloë Noëlle Fenna Sanne Lotte Iris Femke Inge Marieke Anne-Marie "
           "Esmée Daniëlle Kim Demi Romy Britt Jeroen Daan Sem Thijs Bram Joël",
           "Bakker Janssen Visser Smit Meijer Mulder Bos Vos Peters Hendriks Dekker Brouwer "
           "Dijkstra Smits Kok Jacobs Vermeulen Schouten Willems IJzerman",
           (),
           ("de Vries", "van den Berg", "van Dijk", "de Boer", "de Groot", "van Leeuwen",
            "de Wit", "de Graaf", "van der Meer", "van der Linden", "de Haan", "van den Heuvel",
            "van der Veen", "de Bruijn", "van Beek", "van Vliet", "Jansen-Kok")),
    Origin("romanian", 0.10, "Romania", 1,
           "Ana Maria Elena Ioana Andreea Mihaela Alexandra Ștefania Iulia Bianca Mihai Andrei",
           "Popescu Ionescu Popa Rădulescu Dumitru Stoica Munteanu Țurcanu Bălan Constantin",
           ("Ana-Maria",)),
    Origin("bulgarian", 0.06, "Bulgaria", 1,
           "Desislava Tsvetelina Galina Petya Radka Yordanka Georgi Dimitar",
           "Ivanova Petrova Dimitrova Georgieva Stoyanova Todorova Nikolova"),
    Origin("polish", 0.06, "Poland", 1,
           "Małgorzata Agnieszka Katarzyna Łucja Magdalena Joanna Łukasz Paweł",
           "Nowak Kowalska Wiśniewska Wójcik Kamińska Lewandowska Woźniak Dąbrowska Kozłowska"),
    Origin("hungarian", 0.04, "Hungary", 1,
           "Zsófia Réka Eszter Anikó Krisztina Gábor",
           "Nagy Kovács Tóth Szabó Horváth Varga Kiss"),
    Origin("ukrainian", 0.04, "Ukraine", 1,
           "Olena Oksana Yuliia Iryna Nataliia Oleksandr",
           "Shevchenko Kovalenko Bondarenko Tkachenko Kravchenko Melnyk"),
    Origin("czech", 0.02, "Czechia", 1,
           "Tereza Lucie Petra Kateřina Jiří",
           "Nováková Dvořáková Černá Procházková Novák"),
    Origin("nigerian", 0.09, "Nigeria", 2,
           "Blessing Precious Joy Favour Gift Mercy Faith Patience Chiamaka Ngozi Chioma "
           "Adaeze Oluwaseun Folake Osagie Emeka",
           "Okafor Okonkwo Eze Nwosu Adeyemi Ogunleye Igbinedion Osaro Omoruyi Edosa"),
    Origin("ghanaian", 0.03, "Ghana", 2,
           "Abena Ama Akosua Efua Adwoa Comfort Kwame Kofi",
           "Asante Mensah Owusu Boateng Appiah Agyeman"),
    Origin("guinean", 0.03, "Guinea", 2,
           "Fatoumata Aminata Mariama Kadiatou Aïssata Mamadou Ibrahim Ousmane",
           "Diallo Bah Barry Camara Sow Condé Touré Keïta"),
    Origin("sierra_leonean", 0.01, "Sierra Leone", 2,
           "Isatu Adama Hawa Fatmata Mohamed",
           "Kamara Sesay Koroma Conteh Bangura Turay"),
    Origin("ivorian", 0.01, "Côte d'Ivoire", 2,
           "Adjoua Affoué Akissi Awa Yao",
           "Kouassi Koné Traoré Coulibaly Ouattara Yao N'Guessan"),
    Origin("colombian", 0.03, "Colombia", 3,
           "Valentina Camila Daniela Mariana Yesenia Ángela Juliana Andrés",
           "García Rodríguez Martínez Hernández López González Ramírez Gómez Muñoz Rojas",
           ("María José", "Ana María", "Luisa Fernanda", "Juan Carlos"),
           ("Pérez-Gómez",)),
    Origin("venezuelan", 0.02, "Venezuela", 3,
           "Yuleisy Yelitza Dayana Lucía Sofía Inés José",
           "Pérez Sánchez Díaz Peña Ibáñez Castillo Briceño",
           ("José Luis",), ("de la Cruz",)),
    Origin("dominican", 0.01, "Dominican Republic", 3,
           "Yokasta Yanelis Altagracia Wendy",
           "Núñez Reyes Polanco Almonte Tavárez"),
    Origin("brazilian", 0.02, "Brazil", 3,
           "Thaís Letícia Graça Luiz João Jéssica",
           "Oliveira Souza Gonçalves Araújo Conceição Ferreira",
           (), ("da Silva", "dos Santos")),
    Origin("vietnamese", 0.04, "Vietnam", 4,
           "Lan Hoa Mai Hương Trang",
           "Nguyễn Trần Lê Phạm Hoàng Phan Vũ Đặng Bùi Đỗ",
           ("Thị Lan", "Thị Hoa", "Thị Mai", "Văn Minh", "Thu Hà", "Ngọc Anh")),
    Origin("chinese", 0.03, "China", 4,
           "Mei Jing Hui Wei Fang Yan",
           "Wang Zhang Liu Chen Yang Huang Zhao",
           ("Xiu Ying", "Li Na")),
    Origin("thai", 0.01, "Thailand", 4,
           "Siriporn Malee Kanya Pranee Somchai",
           "Srisuk Wongsa Saetang Boonmee Chaiyaporn"),
    Origin("filipino", 0.01, "Philippines", 4,
           "Rowena Marites Jocelyn Rosalie Lorna",
           "Santos Bautista Mendoza Villanueva Ramos",
           ("Maria Cristina",), ("dela Cruz",)),
)  # fmt: skip
"""The origins of the people on the lists; shares sum to 1."""
_TRANSLITERATIONS: dict[str, tuple[str, ...]] = {
    "Shevchenko": ("Sjevtsjenko", "Schewtschenko"),
    "Tkachenko": ("Tkatsjenko",),
    "Kovalenko": ("Kowalenko",),
    "Yuliia": ("Yulia", "Julija"),
    "Oleksandr": ("Aleksandr", "Olexandr"),
    "Olena": ("Jelena",),
    "Tsvetelina": ("Cvetelina",),
    "Georgi": ("Gueorgui",),
    "Fatoumata": ("Fatumata",),
    "Mamadou": ("Mamadu",),
    "Oluwaseun": ("Oluwashaun",),
    "Meijer": ("Meyer",),
    "de Bruijn": ("de Bruyn",),
    "IJzerman": ("Yzerman",),
    "Zhang": ("Chang",),
    "Xiu Ying": ("Hsiu Ying",),
    "Luiz": ("Luis",),
    "Yuleisy": ("Yuleysi",),
}
_PLAIN = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O"})
_PARTICLES = ("van der ", "van den ", "van ", "de la ", "dela ", "de ", "da ", "dos ")


@dataclass(frozen=True)
class Pool:
    """Names of one kind (given or family), all origins together, with their spellings.

    ``names[i]`` belongs to origin ``ORIGINS[origin[i]]``; its spellings are
    ``soft[i]`` and ``hard[i]``; ``matching[i]`` is ``normalise(names[i])``.
    """

    names: tuple[str, ...]
    origin: tuple[int, ...]
    matching: tuple[str, ...]
    soft: tuple[tuple[str, ...], ...]
    hard: tuple[tuple[str, ...], ...]


@lru_cache(maxsize=2)
def pool(kind: str) -> Pool:
    """The pool of ``"given"`` or ``"family"`` names (built on first use, then cached).

    A name whose matching form an earlier origin has already used stays with that origin.
    """
    names: list[str] = []
    origin: list[int] = []
    seen: set[str] = set()
    for index, source in enumerate(ORIGINS):
        if kind == "given":
            entries = (*source.given.split(), *source.given_multi)
        else:
            entries = (*source.family.split(), *source.family_multi)
        for entry in entries:
            matching = normalise(entry)
            if matching in seen:
                continue
            seen.add(matching)
            names.append(entry)
            origin.append(index)
    pairs = [spellings(name) for name in names]
    return Pool(
        names=tuple(names),
        origin=tuple(origin),
        matching=tuple(normalise(name) for name in names),
        soft=tuple(soft for soft, _ in pairs),
        hard=tuple(hard for _, hard in pairs),
    )


def spellings(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The soft and hard spellings of ``name`` (see the module docstring), each distinct."""
    soft = [name, name.upper(), name.lower(), _unaccented(name)]
    soft.append(unicodedata.normalize("NFD", name))
    if " " in name:
        soft += [name.replace(" ", "  "), name.replace(" ", "\u00a0")]
    if "-" in name:
        soft += [name.replace("-", "\u2013"), name.replace("-", "")]
    if "'" in name:
        soft += [name.replace("'", "\u2019"), name.replace("'", "")]
    hard = list(_TRANSLITERATIONS.get(name, ()))
    hard += [name.translate(_PLAIN), _unaccented(name).translate(_PLAIN)]
    if "-" in name:
        hard.append(name.replace("-", " "))
    if "'" in name:
        hard.append(name.replace("'", " "))
    lowered = name.lower()
    for particle in _PARTICLES:
        if lowered.startswith(particle):
            rest = name[len(particle) :]
            hard += [particle.replace(" ", "").capitalize() + rest.lower(), rest]
            break
    if " " in name and not any(lowered.startswith(p) for p in _PARTICLES):
        hard.append(name.split(" ", maxsplit=1)[0])
    hard.append(_typo(name))
    target = normalise(name)
    return (
        tuple(dict.fromkeys(s for s in soft if normalise(s) == target)),
        tuple(dict.fromkeys(h for h in hard if normalise(h) not in ("", target))),
    )


def _unaccented(text: str) -> str:
    """``text`` with its combining accents left off (what a keyboard without them gives)."""
    decomposed = unicodedata.normalize("NFD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", plain)


def _typo(name: str) -> str:
    """A one-letter slip: a doubled letter written once, or the last consonant doubled."""
    for i in range(len(name) - 1):
        if name[i].isalpha() and name[i].lower() == name[i + 1].lower():
            return name[:i] + name[i + 1 :]
    for i in range(len(name) - 1, -1, -1):
        if name[i].isalpha() and name[i].lower() not in "aeiouy":
            return name[: i + 1] + name[i] + name[i + 1 :]
    return name + name[-1]
