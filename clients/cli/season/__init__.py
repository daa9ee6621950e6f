"""`fupin shipments`, `fupin grants` and `fupin statement`: the season after the commit
(SeasonService)."""
