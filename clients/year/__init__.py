"""The CLI commands of the household's year (YearService): cases and the public notice, the
annual re-survey, shocks, risks and alerts."""
