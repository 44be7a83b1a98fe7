"""Who writes to a care office, made up: names, addresses and subjects with the spread
real ones have (a few common surnames, many rare ones, practices by town, subjects
from a handful of kinds with a client number), the same every run (a fixed seed).

The desk benchmark's conversations get these, so that search finds what it would find
in an office: a common surname in a few per cent of the conversations, an address in
one, a three-letter start in many."""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST = (
    "Anna Bram Carla Daan Eva Fleur Gert Hanna Ilse Jan Joost Karin Lars Lisa Marco Maud "
    "Niels Noor Olaf Petra Pim Roos Sanne Sem Tess Thijs Vera Wim Yara Zoë Ömer Fatima "
    "Mohamed Sophie Lucas Emma Julia Milan Daniël Bas"
).split()
SURNAMES = (
    "Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer|de Boer|"
    "Mulder|de Groot|Bos|Vos|Peters|Hendriks|van Leeuwen|Dekker|Brouwer|de Wit|Dijkstra|"
    "Smits|de Graaf|van der Meer|van der Linden|Kok|Jacobs|de Haan|Vermeulen|van den Heuvel|"
    "van der Veen|van den Broek|de Bruijn|de Bruin|van der Heijden|Schouten|van Beek|"
    "Willems|van Vliet|van de Ven|Hoekstra|Maas|Verhoeven|Koster|van Dam|van der Wal|"
    "Prins|Blom|Huisman|Peeters|de Jong|Ünal|Yilmaz|El Amrani|Bouzid|Nguyen|Kowalski"
).split("|")
TOWNS = (
    "utrecht amsterdam rotterdam zwolle arnhem leiden delft breda tilburg almere haarlem "
    "groningen nijmegen enschede apeldoorn amersfoort zaandam dordrecht emmen venlo"
).split()
KINDS = ("fysio", "huidtherapie", "praktijk", "logopedie", "ergotherapie", "podotherapie")
SUBJECTS = (
    "Verwijzing cliënt {n}",
    "Uitslag onderzoek {n}",
    "Declaratie {month} {n}",
    "Vraag over behandeling {n}",
    "Machtiging {n}",
    "Verslag intake {n}",
    "Behandelovereenkomst {n}",
    "Adreswijziging cliënt {n}",
)
MONTHS = "januari februari maart april mei juni juli augustus september oktober".split()


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    subject: str


def people(n: int, seed: int = 14) -> list[Person]:
    """``n`` made-up writers, about 40 % with one of ten common surnames."""
    rnd = random.Random(seed)  # noqa: S311 - made-up test data, the same every run
    found = []
    for i in range(n):
        first = rnd.choice(FIRST)
        last = rnd.choice(SURNAMES[:10]) if rnd.random() < 0.4 else rnd.choice(SURNAMES)
        practice = f"{rnd.choice(KINDS)}-{rnd.choice(TOWNS)}"
        local = f"{first[0]}.{last.replace(' ', '')}".lower()
        subject = rnd.choice(SUBJECTS).format(n=10_000 + i, month=rnd.choice(MONTHS))
        found.append(Person(f"{first} {last}", f"{local}@{practice}.nl", subject))
    return found
