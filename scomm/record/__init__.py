"""The real record: ICE's own detainer counts (FOIA), beside which the national run is judged.

:mod:`scomm.record.detainers` reads the files; :mod:`scomm.record.series` says which model
output each real series is compared with, and builds the comparisons.
"""
