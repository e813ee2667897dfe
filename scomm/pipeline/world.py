"""The agencies' databases that the steps search: the edges of the pure flow.

FBI CJIS keeps the criminal master file (prints and rap sheets, by FBI number); DHS IDENT keeps
immigration encounters (prints and encounter records, by FIN); ICE LESC keeps status records,
which can lag behind the truth. Biometric searches go through the one engine interface of
``scomm.biometrics.engine``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scomm.people import Status
from scomm.policies.overlays import Rules, baseline_rules
from scomm.policies.practice import Practice

if TYPE_CHECKING:
    from scomm.biometrics.engine import BiometricEngine, PreparedProbe

# Prepared probes kept so that IDENT's search of a booking's prints reuses what the IAFIS
# search prepared (decoding and cylinders are a third of a search). About 25 kB each; a
# queue holding more bookings than this between the two steps just prepares them again.
PROBE_CACHE = 4096
# Searches done ahead of their step (:meth:`World.search_ahead`), kept until the step asks.
SEARCHES_AHEAD = 4096

DATABASES = ("iafis", "ident")  # the biometric databases a step searches
ProbeKey = tuple[tuple[str, str], ...]
Found = tuple[str | None, float | None]  # the best candidate's id and score, or none


def _no_activation(_: str) -> dt.date | None:
    return None


def _assumed_practice() -> Practice:
    from scomm.simulation.assumptions import load_assumptions

    return load_assumptions().practice


@dataclass
class World:
    iafis: BiometricEngine
    ident: BiometricEngine
    rap_sheets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    encounters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    status_records: dict[str, Status] = field(default_factory=dict)
    activation_date: Callable[[str], dt.date | None] = _no_activation
    field_office_of: Callable[[str], str] = lambda fips: "unknown"
    # The same assumptions the national simulation reads (the package's calibration over the
    # priors), and the rules in force: history, or an overlay's (``scomm run --scenario``).
    practice: Practice = field(default_factory=lambda: _assumed_practice())
    rules: Rules = field(default_factory=baseline_rules)
    seed: int = 0
    fingers_searched: tuple[int, ...] = (2, 7)
    _probes: OrderedDict[ProbeKey, PreparedProbe] = field(
        default_factory=OrderedDict, repr=False, compare=False
    )
    _ahead: OrderedDict[tuple[str, ProbeKey], Found] = field(
        default_factory=OrderedDict, repr=False, compare=False
    )
    # Worker threads share one world: the caches above change under this lock.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def empty(cls, **kwargs: Any) -> World:
        from scomm.biometrics.engine import BiometricEngine

        return cls(iafis=BiometricEngine.in_memory(), ident=BiometricEngine.in_memory(), **kwargs)

    @classmethod
    def of_jurisdictions(cls, **kwargs: Any) -> World:
        """Empty agency databases, with each county's activation date and ICE field office
        from the jurisdictions data (``scomm data check``)."""
        from scomm.jurisdictions.counties import load_jurisdictions

        jurisdictions = load_jurisdictions()

        def activation(fips: str) -> dt.date | None:
            return jurisdictions.get(fips).activation_date

        def office(fips: str) -> str:
            county = jurisdictions.get(fips)
            return county.field_office or county.aor or "unknown"

        return cls.empty(activation_date=activation, field_office_of=office, **kwargs)

    def _key(self, encoded: Mapping[str, str]) -> ProbeKey:
        chosen = {f: t for f, t in encoded.items() if int(f) in self.fingers_searched}
        return tuple(sorted((chosen or encoded).items()))

    def probe(self, encoded: Mapping[str, str], where: str) -> PreparedProbe:
        """The searched fingers of a booking's prints (base64 templates by position, as the
        messages carry them), decoded and prepared; the same prints are prepared once."""
        key = self._key(encoded)
        with self._lock:
            probe = self._probes.get(key)
            if probe is not None:
                self._probes.move_to_end(key)
                return probe
        from scomm.biometrics.gallery import prepare_probe
        from scomm.pipeline.prints import decode_fingers

        probe = prepare_probe(decode_fingers(dict(key), where))
        with self._lock:
            self._probes[key] = probe
            if len(self._probes) > PROBE_CACHE:
                self._probes.popitem(last=False)
        return probe

    def search(self, database: str, encoded: Mapping[str, str], where: str) -> Found:
        """The best candidate at or above the threshold for a booking's prints in ``database``
        (``"iafis"`` or ``"ident"``): the answer :meth:`search_ahead` found, if it did."""
        with self._lock:
            found = self._ahead.pop((database, self._key(encoded)), None)
        if found is not None:
            return found
        return self._search(database, self.probe(encoded, where))

    def search_ahead(self, requests: Iterable[tuple[str, Mapping[str, str]]]) -> None:
        """Search ahead of the steps that will ask (``(database, prints)`` each), so that the
        searches of a batch run while another worker thread writes to the store. A search
        that fails here (unreadable prints, say) is left for its step, which reports it."""
        for database, encoded in requests:
            try:
                key = (database, self._key(encoded))
                with self._lock:
                    if key in self._ahead:
                        continue  # searched ahead already; its step has not asked yet
                found = self._search(database, self.probe(encoded, "search ahead"))
            except Exception:  # noqa: BLE001  (the step meets the same error and reports it)
                continue
            with self._lock:
                self._ahead[key] = found
                if len(self._ahead) > SEARCHES_AHEAD:
                    self._ahead.popitem(last=False)

    def _search(self, database: str, probe: PreparedProbe) -> Found:
        if database not in DATABASES:
            raise ValueError(f"no biometric database {database!r} (one of {DATABASES})")
        engine = self.iafis if database == "iafis" else self.ident
        candidates = engine.identify_prepared(probe, max_candidates=1)
        if not candidates:
            return None, None
        return candidates[0].subject_id, float(candidates[0].score)
