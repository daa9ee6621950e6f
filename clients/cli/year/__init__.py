"""`fupin case`, `fupin notice`, `fupin resurvey`, `fupin shock`, `fupin risks` and `fupin alerts`:
the household's year (YearService)."""
