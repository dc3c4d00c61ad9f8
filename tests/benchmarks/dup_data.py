"""Synthetic leads with planted duplicates, for the duplicate-detection benchmark and tests.

People are made of a first name (a mixed list of common English, Spanish and Portuguese first names) and
a generated last name (syllables, plus real common surnames), so that most full names are unique, as in a
real contact base, while common first names repeat a lot. About ``dup_rate`` of the people get a second
lead planted with realistic differences: a typo in the first or last name, swapped name order, a missing
company, a dropped accent, another email address, or the same email/phone typed again (exact keys).
"""

from __future__ import annotations

import random

from leadtide.duplicates.ports import MatchRecord

FIRST = [
    "James",
    "John",
    "Robert",
    "Michael",
    "William",
    "David",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Paul",
    "Steven",
    "Andrew",
    "Joshua",
    "Kevin",
    "Brian",
    "George",
    "Emily",
    "Emma",
    "Olivia",
    "Sophia",
    "Ava",
    "Isabella",
    "Mia",
    "Charlotte",
    "Amelia",
    "Harper",
    "José",
    "Juan",
    "Luis",
    "Carlos",
    "Jorge",
    "Pedro",
    "Miguel",
    "Andrés",
    "Javier",
    "Diego",
    "Fernando",
    "Pablo",
    "Alejandro",
    "Manuel",
    "María",
    "Ana",
    "Lucía",
    "Sofía",
    "Valentina",
    "Camila",
    "Martina",
    "Paula",
    "Laura",
    "Carmen",
    "Isabel",
    "Elena",
    "Gabriela",
    "Daniela",
    "João",
    "Antônio",
    "Francisco",
    "Lucas",
    "Gabriel",
    "Rafael",
    "Matheus",
    "Felipe",
    "Gustavo",
    "Bruno",
    "Thiago",
    "Leonardo",
    "Rodrigo",
    "Luana",
    "Júlia",
    "Beatriz",
    "Larissa",
    "Fernanda",
    "Mariana",
    "Letícia",
    "Amanda",
    "Bianca",
    "Renata",
    "Aline",
    "Patrícia",
    "Vanessa",
    "Priscila",
    "Natália",
]
LAST_REAL = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Araújo",
    "Fernández",
    "González",
    "Muñoz",
    "Jiménez",
    "Ruiz",
    "Díaz",
    "Álvarez",
    "Romero",
    "Navarro",
    "Domínguez",
]
SYL_A = [
    "ka",
    "ber",
    "mon",
    "tal",
    "vin",
    "dor",
    "sel",
    "mar",
    "lin",
    "gar",
    "fen",
    "rok",
    "hal",
    "tes",
    "vor",
    "pal",
    "nis",
    "bra",
    "cor",
    "del",
]
SYL_B = ["ri", "lo", "na", "ve", "du", "ma", "si", "te", "ro", "ga", "ni", "le", "bo", "ca", "mi"]
SYL_C = [
    "son",
    "berg",
    "ez",
    "ini",
    "ov",
    "ard",
    "man",
    "ton",
    "well",
    "ford",
    "stein",
    "ez",
    "eiro",
    "ski",
    "ley",
]
COMPANY_A = [
    "Blue",
    "Green",
    "North",
    "Sun",
    "Iron",
    "Silver",
    "Bright",
    "Rapid",
    "Prime",
    "Nova",
    "Alpha",
    "Terra",
    "Delta",
    "Vista",
    "Coral",
]
COMPANY_B = [
    "Peak",
    "Leaf",
    "Wave",
    "Stone",
    "Bridge",
    "Field",
    "Harbor",
    "Works",
    "Labs",
    "Systems",
    "Foods",
    "Studio",
    "Logistics",
    "Motors",
]
COMPANY_FORM = ["Inc", "LLC", "Ltd", "S.A.", "Ltda", "GmbH", ""]


def _last_name(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(LAST_REAL)
    middle = rng.choice(SYL_B) + (rng.choice(SYL_B) if rng.random() < 0.7 else "")
    word = rng.choice(SYL_A) + middle + rng.choice(SYL_C)
    return word.capitalize()


def _typo(rng: random.Random, word: str) -> str:
    return _typo_lower(rng, word.lower()).capitalize()


def _typo_lower(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word + rng.choice("aeiou")
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(4)
    if op == 0:  # deletion
        return word[:i] + word[i + 1 :]
    if op == 1:  # insertion
        return word[:i] + rng.choice("aeilnorst") + word[i:]
    if op == 2:  # substitution
        return word[:i] + rng.choice("aeilnorst") + word[i + 1 :]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]  # transposition


def _ascii(word: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def generate_leads(
    n: int, *, dup_rate: float = 0.03, seed: int = 7
) -> tuple[list[MatchRecord], set[tuple[str, str]]]:
    """``n`` leads (ids ``l000000...``) and the set of planted duplicate pairs (sorted id pairs).

    Around ``n * dup_rate`` leads are planted copies of an earlier person; the rest are distinct people.
    """
    rng = random.Random(seed)
    records: list[MatchRecord] = []
    planted: set[tuple[str, str]] = set()
    clusters: dict[str, list[str]] = {}  # first lead of a person -> every lead planted for that person
    companies = [
        f"{a} {b} {f}".strip()
        for a in COMPANY_A
        for b in COMPANY_B
        for f in COMPANY_FORM
        if rng.random() < 0.5
    ]
    people: list[tuple[str, str, str, str | None, str | None, str | None]] = []  # (lead id, person...)
    while len(records) < n:
        lead_id = f"l{len(records):07d}".ljust(32, "0")
        if people and rng.random() < dup_rate:
            source_id, first, last, company, email, phone = rng.choice(people)
            variant = rng.randrange(8)
            if variant == 6 and not email:
                variant = 0
            name: str | None = None
            if variant == 0:
                first = _typo(rng, first)
            elif variant == 1:
                last = _typo(rng, last)
            elif variant == 2:
                name, first, last = f"{last} {first}", "", ""  # swapped order in a single name field
            elif variant == 3:
                company = None
            elif variant == 4:
                first, last = _ascii(first), _ascii(last)
            elif variant == 5:
                email = f"{_ascii(first + last).lower()}{rng.randrange(10, 99)}@gmail.com"
            elif variant == 6:
                first, last, company = "", "", None  # a capture with only the same email
            else:
                email = None  # same phone typed again, name with a typo
                last = _typo(rng, last)
            if variant not in (5, 6) and rng.random() < 0.5:
                email = None if variant != 6 else email
            records.append(
                MatchRecord(
                    lead_id,
                    name=name,
                    first_name=first or None,
                    last_name=last or None,
                    email=email,
                    phone=phone if variant in (6, 7) or rng.random() < 0.3 else None,
                    company=company,
                )
            )
            for other in clusters[source_id]:
                planted.add((min(other, lead_id), max(other, lead_id)))
            clusters[source_id].append(lead_id)
            continue
        first, last = rng.choice(FIRST), _last_name(rng)
        company = rng.choice(companies) if rng.random() < 0.7 else None
        n_people = len(people)
        if company and rng.random() < 0.6:
            domain = _ascii(company.split()[0] + company.split()[1]).lower() + ".com"
        else:
            domain = rng.choice(["gmail.com", "hotmail.com", "yahoo.com", "outlook.com"])
        email = (
            f"{_ascii(first).lower()}.{_ascii(last).lower()}{n_people}@{domain}"
            if rng.random() < 0.8
            else None
        )
        phone = f"+1555{n_people:07d}" if rng.random() < 0.6 else None
        people.append((lead_id, first, last, company, email, phone))
        clusters[lead_id] = [lead_id]
        records.append(
            MatchRecord(lead_id, first_name=first, last_name=last, email=email, phone=phone, company=company)
        )
    return records, planted
