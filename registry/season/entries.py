"""The ledger entry kinds the season writes (registry/ledger/chain.py Entry.kind), named once:
the stores write them, the ledger's reports and servicer read them."""

from __future__ import annotations

# Subject: the listing; counterpart: the order (registry/season/shipments.py, payments.py).
DISPATCH = "shipment_dispatch"
RECEIPT = "shipment_receipt"
REJECTION = "shipment_rejection"
CANCEL = "shipment_cancel"
PAYMENT = "payment"
ABOUT_LISTINGS = (DISPATCH, RECEIPT, REJECTION, CANCEL, PAYMENT)

# Subject: the household; counterpart: the cooperative (payments.py) or the programme
# (disbursements.py).
DIVIDEND = "dividend"
AID_DISBURSEMENT = "aid_disbursement"
AID_RECEIPT = "aid_receipt"
AID_CLAWBACK = "aid_clawback"
ABOUT_HOUSEHOLDS = (DIVIDEND, AID_DISBURSEMENT, AID_RECEIPT, AID_CLAWBACK)
