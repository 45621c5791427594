"""The eCitizen services this reference core service offers, with their fees and form fields.

Fees are in whole KES as published on eCitizen (including its convenience fee where one applies),
to the best of our knowledge at the time of writing; confirm them before a real launch. Prompts are
kept under 60 characters so a prompt plus the reserved keys fits one 160-character USSD screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FieldType = Literal["text", "digits", "date", "choice"]


@dataclass(frozen=True)
class Department:
    code: str
    name_en: str
    name_sw: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": {"en": self.name_en, "sw": self.name_sw}}


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
    name: str
    type: FieldType
    prompt_en: str
    prompt_sw: str
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[Choice, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "prompt": {"en": self.prompt_en, "sw": self.prompt_sw},
            "min_length": self.min_length,
            "max_length": self.max_length,
            "choices": [c.to_json() for c in self.choices],
        }


@dataclass(frozen=True)
class ServiceSpec:
    code: str
    name_en: str
    name_sw: str
    department: Department
    fee_kes: int
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)

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
            "department": self.department.to_json(),
            "fee_kes": self.fee_kes,
            "fields": [f.to_json() for f in self.fields],
        }


DCI = Department("DCI", "Directorate of Criminal Investigations", "Idara ya Upelelezi wa Jinai")
CRS = Department("CRS", "Civil Registration Services", "Huduma za Usajili wa Raia")
NTSA = Department("NTSA", "National Transport and Safety Authority", "Mamlaka ya Usafiri na Usalama")
BRS = Department("BRS", "Business Registration Service", "Huduma ya Usajili wa Biashara")
DIS = Department("DIS", "Department of Immigration Services", "Idara ya Uhamiaji")
RGM = Department("RGM", "Registrar of Marriages", "Msajili wa Ndoa")
KRA = Department("KRA", "Kenya Revenue Authority", "Mamlaka ya Ushuru Kenya")
NRB = Department("NRB", "National Registration Bureau", "Ofisi ya Usajili wa Taifa")

DEPARTMENTS: tuple[Department, ...] = (DCI, CRS, NTSA, BRS, DIS, RGM, KRA, NRB)


def _county(prompt_en: str = "County", prompt_sw: str = "Kaunti") -> FieldSpec:
    return FieldSpec("county", "text", prompt_en, prompt_sw, 3, 20)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "good_conduct",
        "Certificate of Good Conduct",
        "Cheti cha Maadili Mema",
        DCI,
        1050,
        (
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
    ),
    ServiceSpec(
        "birth_cert_copy",
        "Birth certificate copy",
        "Nakala ya Cheti cha Kuzaliwa",
        CRS,
        200,
        (
            FieldSpec("full_name", "text", "Full name on the certificate", "Jina kamili kwenye cheti", 3, 60),
            FieldSpec(
                "date_of_birth", "date", "Date of birth (DD/MM/YYYY)", "Tarehe ya kuzaliwa (DD/MM/YYYY)"
            ),
            _county("County of birth", "Kaunti ya kuzaliwa"),
        ),
    ),
    ServiceSpec(
        "dl_renewal",
        "Driving licence renewal",
        "Kuhuisha Leseni ya Udereva",
        NTSA,
        650,
        (
            FieldSpec(
                "licence_number", "text", "Driving licence number", "Nambari ya leseni ya udereva", 6, 12
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
    ),
    ServiceSpec(
        "business_name_registration",
        "Business name registration",
        "Usajili wa Jina la Biashara",
        BRS,
        950,
        (
            FieldSpec(
                "search_reference", "text", "Name search reference", "Nambari ya utafutaji wa jina", 5, 20
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
    ),
    ServiceSpec(
        "passport",
        "Passport application",
        "Ombi la Pasipoti",
        DIS,
        7500,
        (
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
            FieldSpec("place_of_birth", "text", "Place of birth", "Mahali ulipozaliwa", 3, 30),
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
            FieldSpec("spouse_name", "text", "Spouse's full name", "Jina kamili la mwenzi wako", 3, 60),
            FieldSpec(
                "marriage_date", "date", "Date of marriage (DD/MM/YYYY)", "Tarehe ya ndoa (DD/MM/YYYY)"
            ),
        ),
    ),
    ServiceSpec(
        "kra_pin",
        "KRA PIN registration",
        "Usajili wa PIN ya KRA",
        KRA,
        0,
        (
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
    ),
    ServiceSpec(
        "id_replacement",
        "National ID replacement",
        "Kitambulisho cha Taifa Mbadala",
        NRB,
        1000,
        (
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
    ),
)

SERVICES_BY_CODE: dict[str, ServiceSpec] = {s.code: s for s in SERVICES}


def find_service(code: str) -> ServiceSpec | None:
    """The service with this code, or None."""
    return SERVICES_BY_CODE.get(code)
