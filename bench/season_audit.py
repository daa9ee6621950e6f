"""bench/season.py's audit: kilograms counted twice, computed from the database's rows alone
(not from the counters the season's steps keep), after the run. Plain SQL that PostgreSQL and
SQLite both run."""

from __future__ import annotations

from sqlalchemy import create_engine, text

# Per shipment: received + rejected (+ its kg again if it was cancelled after either) beyond
# the kilograms shipped.
SHIPMENTS = """
SELECT COALESCE(SUM(CASE WHEN over > 0 THEN over ELSE 0 END), 0) FROM (
  SELECT received_kg + rejected_kg + CASE WHEN state = 4 THEN kg ELSE 0 END - kg AS over
  FROM shipment
) s
"""
# Per shipment: the ledger's receipt and rejection kilograms against the shipment's own.
LEDGER = """
SELECT COALESCE(SUM(ABS(s.received_kg + s.rejected_kg - COALESCE(l.kg, 0))), 0)
FROM shipment s LEFT JOIN (
  SELECT run_id, subject_id, counterpart_id, SUM(quantity) AS kg FROM ledger_entry
  WHERE kind IN ('shipment_receipt', 'shipment_rejection')
  GROUP BY run_id, subject_id, counterpart_id
) l ON l.run_id = s.run_id AND l.subject_id = s.listing_id AND l.counterpart_id = s.order_id
"""
# Per listing: reserved_kg against its live shipments and its held kilograms.
LISTINGS = """
SELECT COALESCE(SUM(ABS(x.reserved_kg - COALESCE(s.kg, 0) - COALESCE(h.kg, 0))), 0)
FROM listing x
LEFT JOIN (SELECT listing_id, SUM(kg) AS kg FROM shipment WHERE state <> 4 GROUP BY listing_id) s
  ON s.listing_id = x.id
LEFT JOIN (
  SELECT i.listing_id, SUM(i.kg) AS kg FROM checkout_hold_item i
  JOIN checkout_hold c ON c.id = i.hold_id WHERE c.state = 1 GROUP BY i.listing_id
) h ON h.listing_id = x.id
"""


def double_counted_kg(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return sum(
                int(conn.execute(text(q)).scalar_one()) for q in (SHIPMENTS, LEDGER, LISTINGS)
            )
    finally:
        engine.dispose()
