"""The solver models' error texts: patterns for server/messages.py, tried after every other
but LAST's (most specific first).

matcher/solvers raise ValueError or InvalidProduceProblem in English, knowing nothing of
gRPC or of languages; the matcher's converters pass a text on as the description of the field
violation that names the field (convert_aid.py splits "field: why" into the two), and the
interceptor translates it by these patterns like any other. Most bad fields are caught first
by the matcher's own checks (matcher/service/convert*.py), with their own texts; these are
what an inline problem can still meet. The Chinese is in
server/locale/zh_CN/LC_MESSAGES/fupin_server.po (scripts/i18n.py extracts these too);
tests/server/test_message_coverage.py walks matcher/solvers for every such text.
"""

from __future__ import annotations

from server.message_texts import N_

SOLVERS: tuple[str, ...] = (
    # aid (matcher/solvers/aid/problem.py; the field is split off by convert_aid.py)
    N_("unknown household status in {values}"),
    N_("unknown household status {value}"),
    N_("unknown cause of poverty {value}"),
    N_("unknown causes {values}; known: {known}"),
    N_("unknown programme {id}"),
    N_("must not be empty"),
    N_("must start with county_code"),
    N_("must be an integer 0..{high}, got {value}"),
    N_("must be an integer 0..{high}"),
    N_("must be an integer >= min_amount_fen, got {value}"),
    N_("must be an integer, got {value}"),
    N_("must be a non-negative integer, got {value}"),
    N_("must be a positive integer, got {value}"),
    N_("must be a string of digits, got {value}"),
    N_("must be {digits} digits, got {value}"),
    N_("at most {count} digits, got {value}"),
    N_("must serve at least one household status"),
    N_("give a fixed amount or a range, not both"),
    N_("give amount_fen or all of min/max_amount_fen, step_fen"),
    N_("must be positive and divide max - min amount"),
    N_("too fine; each step must be ≥ 1/{scale} of min+max"),
    N_("too small against max_amount_fen (1/{scale})"),
    N_("base_weight and per_cause_weight cannot both be 0"),
    N_("needs two or more known programme ids"),
    N_("duplicate id {id}"),
    # solve parameters (matcher/solvers/common/solving.py)
    N_("time_limit_s must be a positive finite number of seconds"),
    N_("workers must be at least 1"),
    N_("relative_gap must be non-negative"),
    # contracting (matcher/solvers/contracting/problem.py)
    N_("quota_by_rank has no quota for rank(s) {ranks}"),
    N_("quotas must be >= 0 and k_nearest >= 1"),
    N_("rank_balance_m must be between 0 and {high}"),
    N_("scores: household, cadre, cost and effort of one length"),
    N_("scores: cost and effort must be >= 0"),
    N_("scores: a {what} index outside 0..{high}"),
    N_("scores: a pair listed twice"),
    # produce (matcher/solvers/produce/problem.py, checks.py, columns.py)
    N_("must be a finite number >= 1"),
    N_("must be a latitude in degrees, got {value}"),
    N_("must be a longitude in degrees, got {value}"),
    N_("must be >= 0, got {value}"),
    N_("must have {count} entries"),
    N_("codes must be in 0..{high}"),
    N_("lanes go in ProduceColumns.lanes"),
    N_("must list at least one share"),
    N_("not a PovertyClass: {value}"),
    N_("fraction must be in [0, 1], got {value}"),
    N_("fractions must sum to 1, got {value}"),
    N_("is before available_from"),
    N_("exceeds max_quantity_kg"),
    N_("must be (listing indices, order indices)"),
    N_("must be 1-D and as long as candidates[0]"),
    # stationing (matcher/solvers/stationing/problem.py, stability.py)
    N_("cadre {id}: max_distance_km must be >= 0"),
    N_("cadre {id}: pinned without a current_village_id"),
    N_("cadre {id}: pinned to unknown village"),
    N_("cadre {id}: rank {rank} not in {low}..{high}"),
    N_("village {id}: need 0 <= team_min <= team_max"),
    N_("village {id}: min_secretary_rank not in {low}..{high}"),
    N_("village {id}: {count} pinned cadres of unit {unit} > max_per_unit"),
    N_("village {id}: {count} pinned cadres exceed team_max"),
    N_("max_per_unit must be >= 1 (or None for no limit)"),
    N_("candidates: two 1-D index arrays of equal length"),
    N_("candidates: index out of range"),
    N_("cadre {cadre} and village {village} are not acceptable to each other"),
    N_("village {id} over capacity"),
    N_("capacity: a non-negative number of seats for every village"),
    N_("{who} {id}: preference list repeats an entry (ties?)"),
    N_("{who} {id}: ranks unknown {ids}"),
    N_("{what} {id}: lat/lng ({lat}, {lng}) out of range"),
    N_("duplicate {what} id {id}"),
    N_("duplicate {what} ids"),
    # general ones last: they would take the texts above
    N_("{name} indices must be integers"),
    N_("{name} index out of range 0..{high}"),
    N_("{name} index out of range"),
    N_("{name} must be >= 0"),
)
