"""The eCitizen services this reference core service offers, with their fees and form fields.

Fees are in whole KES as published on eCitizen (including its convenience fee where one applies),
to the best of our knowledge at the time of writing; confirm them before a real launch. Prompts are
kept under 60 characters so a prompt plus the reserved keys fits one 160-character USSD screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FieldType = Literal["text", "name", "digits", "date", "choice", "national_id"]
# What the core fills from the applicant's own record instead of asking (see fields.prefilled).
Prefill = Literal["full_name", "date_of_birth", "national_id"]


@dataclass(frozen=True)
class Department:
    code: str
    name_en: str
    name_sw: str
    # for a 160-character screen: a list page holds 4 or more of these
    short_en: str
    short_sw: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": {"en": self.name_en, "sw": self.name_sw},
            "short_name": {"en": self.short_en, "sw": self.short_sw},
        }


@dataclass(frozen=True)
class Choice:
    value: str
    label_en: str
    label_sw: str
    # a choice may set the fee (licence period, passport size); None keeps the service fee
    fee_kes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "label": {"en": self.label_en, "sw": self.label_sw},
            "fee_kes": self.fee_kes,
        }


@dataclass(frozen=True)
class FieldSpec:
    """One field of a service's form.

    Types: `text` (any characters, `min_length`..`max_length`; with `pattern`, a format such as a
    licence number, shown to the citizen as `example`), `name` (letters with spaces, hyphens and
    apostrophes), `digits`, `date` (DD/MM/YYYY from `min_year` to today), `choice`, `national_id`
    (7 or 8 digits). A field with `prefill` is the applicant's own detail: the core fills it from
    the citizen's record and a client does not ask for it.
    """

    name: str
    type: FieldType
    prompt_en: str
    prompt_sw: str
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[Choice, ...] = ()
    pattern: str | None = None
    example: str | None = None
    min_year: int | None = None
    prefill: Prefill | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "prompt": {"en": self.prompt_en, "sw": self.prompt_sw},
            "min_length": self.min_length,
            "max_length": self.max_length,
            "choices": [c.to_json() for c in self.choices],
            "pattern": self.pattern,
            "example": self.example,
            "min_year": self.min_year,
            "prefill": self.prefill,
        }


@dataclass(frozen=True)
class ServiceSpec:
    code: str
    name_en: str
    name_sw: str
    department: Department
    fee_kes: int
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)
    # dialled after "Apply": *384*123*2*<short_code># opens the form; three digits, so it never
    # reads as a list number (1-97) or a reserved key (0, 00, 98)
    short_code: str = ""
    short_en: str = ""
    short_sw: str = ""

    def fee_for(self, answers: dict[str, str]) -> int:
        """The fee an application with these (already validated) answers must pay."""
        for spec in self.fields:
            for choice in spec.choices:
                if choice.fee_kes is not None and answers.get(spec.name) == choice.value:
                    return choice.fee_kes
        return self.fee_kes

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": {"en": self.name_en, "sw": self.name_sw},
            "short_name": {"en": self.short_en or self.name_en, "sw": self.short_sw or self.name_sw},
            "short_code": self.short_code,
            "department": self.department.to_json(),
            "fee_kes": self.fee_kes,
            "fields": [f.to_json() for f in self.fields],
        }


DCI = Department(
    "DCI",
    "Directorate of Criminal Investigations",
    "Idara ya Upelelezi wa Jinai",
    "Police (DCI)",
    "Polisi (DCI)",
)
CRS = Department(
    "CRS", "Civil Registration Services", "Huduma za Usajili wa Raia", "Births & deaths", "Vizazi na vifo"
)
NTSA = Department(
    "NTSA",
    "National Transport and Safety Authority",
    "Mamlaka ya Usafiri na Usalama",
    "Driving (NTSA)",
    "Udereva (NTSA)",
)
BRS = Department(
    "BRS", "Business Registration Service", "Huduma ya Usajili wa Biashara", "Business names", "Biashara"
)
DIS = Department("DIS", "Department of Immigration Services", "Idara ya Uhamiaji", "Passports", "Pasipoti")
RGM = Department("RGM", "Registrar of Marriages", "Msajili wa Ndoa", "Marriages", "Ndoa")
KRA = Department("KRA", "Kenya Revenue Authority", "Mamlaka ya Ushuru Kenya", "Tax (KRA)", "Ushuru (KRA)")
NRB = Department(
    "NRB", "National Registration Bureau", "Ofisi ya Usajili wa Taifa", "ID cards", "Vitambulisho"
)

DEPARTMENTS: tuple[Department, ...] = (DCI, CRS, NTSA, BRS, DIS, RGM, KRA, NRB)


def _county(prompt_en: str = "County", prompt_sw: str = "Kaunti") -> FieldSpec:
    return FieldSpec("county", "name", prompt_en, prompt_sw, 3, 20)


def _full_name() -> FieldSpec:
    return FieldSpec("full_name", "name", "Full name", "Jina kamili", 3, 60, prefill="full_name")


def _own_id() -> FieldSpec:
    return FieldSpec(
        "national_id", "national_id", "National ID number", "Nambari ya kitambulisho", prefill="national_id"
    )


def _own_birth_date() -> FieldSpec:
    return FieldSpec(
        "date_of_birth",
        "date",
        "Date of birth (DD/MM/YYYY)",
        "Tarehe ya kuzaliwa (DD/MM/YYYY)",
        min_year=1900,
        prefill="date_of_birth",
    )


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "good_conduct",
        "Certificate of Good Conduct",
        "Cheti cha Maadili Mema",
        DCI,
        1050,
        (
            _full_name(),
            _own_id(),
            FieldSpec(
                "purpose",
                "choice",
                "Purpose of the certificate",
                "Sababu ya kuomba cheti",
                choices=(
                    Choice("employment", "Employment", "Ajira"),
                    Choice("travel", "Travel abroad", "Safari ya nje"),
                    Choice("study", "Further studies", "Masomo"),
                    Choice("other", "Other", "Nyingine"),
                ),
            ),
            _county("County for fingerprints", "Kaunti ya kuchukua alama za vidole"),
        ),
        "101",
        "Good conduct",
        "Cheti cha maadili",
    ),
    ServiceSpec(
        "birth_cert_copy",
        "Birth certificate copy",
        "Nakala ya Cheti cha Kuzaliwa",
        CRS,
        200,
        (
            # whose certificate it is, not the applicant's own: a parent asks for a child's
            FieldSpec("full_name", "name", "Full name on the certificate", "Jina kamili kwenye cheti", 3, 60),
            FieldSpec(
                "date_of_birth",
                "date",
                "Date of birth (DD/MM/YYYY)",
                "Tarehe ya kuzaliwa (DD/MM/YYYY)",
                min_year=1900,
            ),
            _county("County of birth", "Kaunti ya kuzaliwa"),
        ),
        "201",
        "Birth cert. copy",
        "Cheti cha kuzaliwa",
    ),
    ServiceSpec(
        "dl_renewal",
        "Driving licence renewal",
        "Kuhuisha Leseni ya Udereva",
        NTSA,
        650,
        (
            FieldSpec(
                "licence_number",
                "text",
                "Driving licence number",
                "Nambari ya leseni ya udereva",
                6,
                12,
                pattern="[A-Za-z]{0,3}[0-9]{5,9}",
                example="DL1234567",
            ),
            FieldSpec(
                "period",
                "choice",
                "Renew for",
                "Huisha kwa muda wa",
                choices=(
                    Choice("1y", "1 year", "Mwaka 1", 650),
                    Choice("3y", "3 years", "Miaka 3", 3050),
                ),
            ),
        ),
        "301",
        "Renew licence",
        "Huisha leseni",
    ),
    ServiceSpec(
        "business_name_search",
        "Business name search",
        "Utafutaji wa Jina la Biashara",
        BRS,
        150,
        (
            FieldSpec(
                "proposed_name", "text", "Proposed business name", "Jina la biashara unalopendekeza", 3, 50
            ),
        ),
        "401",
        "Name search",
        "Tafuta jina",
    ),
    ServiceSpec(
        "business_name_registration",
        "Business name registration",
        "Usajili wa Jina la Biashara",
        BRS,
        950,
        (
            FieldSpec(
                "search_reference",
                "text",
                "Name search reference",
                "Nambari ya utafutaji wa jina",
                5,
                20,
                pattern="(?i)BN-?[A-Z0-9]{4,12}",
                example="BN-7K3Q9P",
            ),
            FieldSpec("business_name", "text", "Business name", "Jina la biashara", 3, 50),
            FieldSpec(
                "nature",
                "choice",
                "Nature of business",
                "Aina ya biashara",
                choices=(
                    Choice("retail", "Retail shop", "Duka la rejareja"),
                    Choice("services", "Services", "Huduma"),
                    Choice("agriculture", "Farming", "Kilimo"),
                    Choice("transport", "Transport", "Usafiri"),
                    Choice("other", "Other", "Nyingine"),
                ),
            ),
            _county(),
        ),
        "402",
        "Register a name",
        "Sajili jina",
    ),
    ServiceSpec(
        "passport",
        "Passport application",
        "Ombi la Pasipoti",
        DIS,
        7500,
        (
            _full_name(),
            _own_birth_date(),
            _own_id(),
            FieldSpec(
                "pages",
                "choice",
                "Passport size",
                "Ukubwa wa pasipoti",
                choices=(
                    Choice("34", "34 pages", "Kurasa 34", 7500),
                    Choice("50", "50 pages", "Kurasa 50", 9750),
                    Choice("66", "66 pages", "Kurasa 66", 12750),
                ),
            ),
            FieldSpec("place_of_birth", "name", "Place of birth", "Mahali ulipozaliwa", 3, 30),
            FieldSpec(
                "collection_centre",
                "choice",
                "Where to collect",
                "Mahali pa kuchukua",
                choices=(
                    Choice("nairobi", "Nairobi (Nyayo House)", "Nairobi (Nyayo House)"),
                    Choice("mombasa", "Mombasa", "Mombasa"),
                    Choice("kisumu", "Kisumu", "Kisumu"),
                    Choice("eldoret", "Eldoret", "Eldoret"),
                ),
            ),
        ),
        "501",
        "Passport",
        "Pasipoti",
    ),
    ServiceSpec(
        "marriage_cert_copy",
        "Marriage certificate copy",
        "Nakala ya Cheti cha Ndoa",
        RGM,
        500,
        (
            FieldSpec(
                "certificate_number",
                "digits",
                "Marriage certificate number",
                "Nambari ya cheti cha ndoa",
                4,
                10,
            ),
            FieldSpec("spouse_name", "name", "Spouse's full name", "Jina kamili la mwenzi wako", 3, 60),
            FieldSpec(
                "marriage_date",
                "date",
                "Date of marriage (DD/MM/YYYY)",
                "Tarehe ya ndoa (DD/MM/YYYY)",
                min_year=1920,
            ),
        ),
        "601",
        "Marriage cert. copy",
        "Cheti cha ndoa",
    ),
    ServiceSpec(
        "kra_pin",
        "KRA PIN registration",
        "Usajili wa PIN ya KRA",
        KRA,
        0,
        (
            _own_id(),
            _full_name(),
            _own_birth_date(),
            FieldSpec(
                "income_source",
                "choice",
                "Main source of income",
                "Chanzo kikuu cha mapato",
                choices=(
                    Choice("employment", "Employment", "Ajira"),
                    Choice("business", "Business", "Biashara"),
                    Choice("none", "No income yet", "Sina mapato bado"),
                ),
            ),
            _county(),
        ),
        "701",
        "KRA PIN",
        "PIN ya KRA",
    ),
    ServiceSpec(
        "id_replacement",
        "National ID replacement",
        "Kitambulisho cha Taifa Mbadala",
        NRB,
        1000,
        (
            _own_id(),
            _full_name(),
            FieldSpec(
                "reason",
                "choice",
                "Reason for replacement",
                "Sababu ya kuomba mbadala",
                choices=(
                    Choice("lost", "Lost", "Kimepotea"),
                    Choice("damaged", "Damaged", "Kimeharibika"),
                    Choice("change", "Change of details", "Mabadiliko ya taarifa"),
                ),
            ),
            _county("County to collect", "Kaunti ya kuchukua"),
        ),
        "801",
        "Replace ID",
        "Kitambulisho mbadala",
    ),
)

SERVICES_BY_CODE: dict[str, ServiceSpec] = {s.code: s for s in SERVICES}


SERVICES_BY_SHORT_CODE: dict[str, ServiceSpec] = {s.short_code: s for s in SERVICES}


def find_service(code: str) -> ServiceSpec | None:
    """The service with this code (or its short code, "101"), or None."""
    return SERVICES_BY_CODE.get(code) or SERVICES_BY_SHORT_CODE.get(code)
