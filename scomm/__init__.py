"""scomm: the Secure Communities pipeline, open and runnable.

The package is laid out the way the domain is (see ../shared/DOMAIN.md):

- ``agencies/``     each actor of the flow: the local agency (LEA), the State Identification
                    Bureau, FBI CJIS/IAFIS, DHS IDENT, ICE LESC, ICE ERO, the jail, the court.
- ``forms/``        the documents they exchange: ANSI/NIST-ITL transactions, IAQ/IAR, I-247.
- ``offenses/``     NCIC offense codes with category and grade.
- ``policies/``     dated federal regimes and local detainer policies (YAML) and the pure
                    decision functions that apply them (``honor_detainer`` and friends).
- ``biometrics/``   fingerprint extraction, templates, matching, galleries, synthetic prints.
- ``store/``        the append-only event log and the work queue its workers claim from.
- ``pipeline/``     one booking through every agency, step by step, on the event store.
- ``jurisdictions/`` every US county: rollout date, population, ICE office, maps.
- ``simulation/``   the whole country, vectorized, with scenarios.
"""

__version__ = "0.1.0"
