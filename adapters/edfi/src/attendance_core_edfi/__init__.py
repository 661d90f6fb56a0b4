"""attendance-core adapters for Ed-Fi attendance: ``edfi-json`` (ODS/API) and ``edfi-xml``
(XML interchanges)."""

from ._model import CATEGORIES, INSTRUCTIONAL_EVENTS
from .json_adapter import EdFiJsonAdapter
from .xml_adapter import EdFiXmlAdapter

__all__ = ["CATEGORIES", "INSTRUCTIONAL_EVENTS", "EdFiJsonAdapter", "EdFiXmlAdapter"]
