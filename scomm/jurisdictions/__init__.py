"""Every US jurisdiction: the public datasets, the counties, the rollout, the ICE offices, maps.

- :mod:`scomm.jurisdictions.datasets`  the datasets, their origins and checksums; check, fetch
- :mod:`scomm.jurisdictions.counties`  ``load_jurisdictions()``: every county by FIPS with its
  population, non-citizen population, ICE area and field office, and activation date
- :mod:`scomm.jurisdictions.states`    the 50 states and DC
- :mod:`scomm.jurisdictions.timezones` every county's IANA time zone (the jail's local days)
- :mod:`scomm.jurisdictions.maps`      county maps (PNG, SVG) of any per-county value

The dated detainer policies themselves are data: ``scomm/policies/jurisdictions/*.yaml``.
"""
