"""Who may call what: the roles, the caller of the RPC in flight, and THE policy table.

Every RPC the server hosts has one entry in POLICY, keyed by its full method name, naming the
roles that may call it (PUBLIC: no key needed). An RPC missing from the table is denied to every
role but admin (tests/access/test_policy.py fails when one is missing, so a new RPC gets an entry
before it ships). What a role sees within an RPC it may call is narrowed by its scope
(registry/access/scopes.py) and masked (registry/access/redaction.py). docs/access.md is generated
from here
(scripts/gen_access_doc.py) and checked against it by a test.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from registry.errors import InvalidArgument, PermissionDenied


class Role(StrEnum):
    ADMIN = "admin"
    OFFICE = "office"  # 扶贫办: scope = administrative code prefix
    COOPERATIVE = "cooperative"  # 合作社: scope = its producer id
    PLATFORM = "platform"  # e-commerce platform, buyer: scope = its buyer id
    AUDITOR = "auditor"  # reads in scope (admin code prefix, empty = all), personal data masked


@dataclass(frozen=True)
class Principal:
    """The caller: the key it presented, with the key's role and scope."""

    key_id: str
    role: Role
    scope: str = ""

    def __post_init__(self) -> None:
        # A role read back as text (the matcher's gRPC link to the registry) becomes the enum
        # member, so that identity checks (`role is Role.ADMIN`) hold; an unknown one raises.
        try:
            object.__setattr__(self, "role", Role(self.role))
        except ValueError:
            raise InvalidArgument.one("reader.role", f"is not a role: {self.role!r}") from None


INTERNAL = Principal("internal", Role.ADMIN)  # in-process work that no caller asked for
# The caller of a PUBLIC method without a key: an auditor of a region that does not exist, so
# that even a servicer that wrongly consulted current() would see nothing.
NOBODY = Principal("", Role.AUDITOR, scope="-")
_CURRENT: contextvars.ContextVar[Principal] = contextvars.ContextVar("fupin_principal")

ADMIN, OFFICE, COOP, PLATFORM, AUDITOR = (
    Role.ADMIN,
    Role.OFFICE,
    Role.COOPERATIVE,
    Role.PLATFORM,
    Role.AUDITOR,
)
ALL = frozenset(Role)
PUBLIC: frozenset[Role] = frozenset()  # marker: no key needed (health, reflection)
_R = "/fupin.registry.v1.RegistryService/"
_M = "/fupin.matcher.v1.MatcherService/"
_X = "/fupin.registry.v1.AccessService/"
_L = "/fupin.registry.v1.LedgerService/"
_S = "/fupin.registry.v1.MatcherStoreService/"
_Y = "/fupin.registry.v1.YearService/"
_E = "/fupin.registry.v1.SeasonService/"
_W = "/fupin.registry.v1.CadreWorkService/"
_P = "/fupin.registry.v1.ReportService/"

# fmt: off
POLICY: Mapping[str, frozenset[Role]] = MappingProxyType({
    f"{_R}CreateVillage": frozenset({ADMIN, OFFICE}),
    f"{_R}GetVillage": ALL,
    f"{_R}ListVillages": ALL,
    f"{_R}UpdateVillage": frozenset({ADMIN, OFFICE}),
    f"{_R}DeleteVillage": frozenset({ADMIN, OFFICE}),
    f"{_R}CreateHousehold": frozenset({ADMIN, OFFICE}),
    f"{_R}GetHousehold": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_R}ListHouseholds": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_R}UpdateHousehold": frozenset({ADMIN, OFFICE}),
    f"{_R}DeleteHousehold": frozenset({ADMIN, OFFICE}),
    f"{_R}ImportHouseholds": frozenset({ADMIN, OFFICE}),
    f"{_R}ListWatchlist": frozenset({ADMIN, OFFICE, AUDITOR}),
    # Then, per kind, the roles of that kind's List (registry/resources/servicer.py).
    f"{_R}BatchGetResources": ALL,
    f"{_R}CreateProducer": frozenset({ADMIN, OFFICE}),
    f"{_R}GetProducer": ALL,
    f"{_R}ListProducers": ALL,
    f"{_R}UpdateProducer": frozenset({ADMIN, OFFICE}),
    f"{_R}DeleteProducer": frozenset({ADMIN, OFFICE}),
    f"{_R}CreateListing": frozenset({ADMIN, OFFICE, COOP}),
    f"{_R}GetListing": ALL,
    f"{_R}ListListings": ALL,
    f"{_R}UpdateListing": frozenset({ADMIN, OFFICE, COOP}),
    f"{_R}DeleteListing": frozenset({ADMIN, OFFICE, COOP}),
    f"{_R}ImportListings": frozenset({ADMIN, OFFICE, COOP}),
    f"{_R}CreateBuyer": frozenset({ADMIN}),
    # A cooperative reads the buyers (businesses) to know whom it sold to.
    f"{_R}GetBuyer": frozenset({ADMIN, COOP, PLATFORM, AUDITOR}),
    f"{_R}ListBuyers": frozenset({ADMIN, COOP, PLATFORM, AUDITOR}),
    f"{_R}UpdateBuyer": frozenset({ADMIN, PLATFORM}),
    f"{_R}DeleteBuyer": frozenset({ADMIN}),
    f"{_R}CreateOrder": frozenset({ADMIN, PLATFORM}),
    f"{_R}GetOrder": frozenset({ADMIN, PLATFORM, AUDITOR}),
    f"{_R}ListOrders": frozenset({ADMIN, PLATFORM, AUDITOR}),
    f"{_R}UpdateOrder": frozenset({ADMIN, PLATFORM}),
    f"{_R}DeleteOrder": frozenset({ADMIN, PLATFORM}),
    # An office manages the cadres of its region: home region inside its scope, or serving in
    # one of its villages (registry/access/scopes.py).
    f"{_R}CreateCadre": frozenset({ADMIN, OFFICE}),
    f"{_R}GetCadre": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_R}ListCadres": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_R}UpdateCadre": frozenset({ADMIN, OFFICE}),
    f"{_R}DeleteCadre": frozenset({ADMIN, OFFICE}),
    f"{_R}ImportCadres": frozenset({ADMIN, OFFICE}),
    f"{_R}CreateAidProgram": frozenset({ADMIN, OFFICE}),
    f"{_R}GetAidProgram": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_R}ListAidPrograms": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_R}UpdateAidProgram": frozenset({ADMIN, OFFICE}),
    f"{_R}DeleteAidProgram": frozenset({ADMIN, OFFICE}),
    f"{_M}MatchProduce": frozenset({ADMIN, PLATFORM}),
    # Which runs each role sees within these: registry/runs/scopes.py (platforms: the produce
    # runs they made; cooperatives: produce runs, only their own listings' part of each;
    # offices and auditors: aid and cadre runs of their region, produce runs selling its
    # producers' produce).
    f"{_M}GetMatchRun": frozenset({ADMIN, OFFICE, COOP, PLATFORM, AUDITOR}),
    f"{_M}ListMatchRuns": frozenset({ADMIN, OFFICE, COOP, PLATFORM, AUDITOR}),
    f"{_M}ListRunAllocations": frozenset({ADMIN, OFFICE, COOP, PLATFORM, AUDITOR}),
    f"{_M}ListRunUnsold": frozenset({ADMIN, OFFICE, COOP, PLATFORM, AUDITOR}),
    f"{_M}WatchMatchRun": frozenset({ADMIN, OFFICE, COOP, PLATFORM, AUDITOR}),
    # A platform changes only the produce runs it made (matcher/service/servicer.py).
    f"{_M}CancelMatchRun": frozenset({ADMIN, OFFICE, PLATFORM}),
    f"{_M}CommitMatchRun": frozenset({ADMIN, OFFICE, PLATFORM}),
    f"{_M}DiscardMatchRun": frozenset({ADMIN, OFFICE, PLATFORM}),
    f"{_M}QuickSource": frozenset({ADMIN, PLATFORM}),
    # An office's aid and cadre runs read and change records of its region only, and carry
    # that region as their scope.
    f"{_M}AllocateAid": frozenset({ADMIN, OFFICE}),
    f"{_M}AssignCadres": frozenset({ADMIN, OFFICE}),
    f"{_M}ContractHouseholds": frozenset({ADMIN, OFFICE}),
    # What each key reads of the ledger is limited to its scope: registry/ledger/reports.py.
    # VerifyLedger reads the whole chain: keys without a scope only (UNSCOPED below).
    f"{_L}VerifyLedger": frozenset({ADMIN, AUDITOR}),
    f"{_L}CreateLedgerCheckpoint": frozenset({ADMIN}),
    f"{_L}ListLedgerEntries": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_L}GetProgrammeSpending": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_L}SpendingTotals": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_L}ExportTransparency": frozenset({ADMIN, OFFICE, AUDITOR}),
    # Shipments (registry/season/shipments.py readable): a platform its buyer's, a cooperative
    # its producer's, an office or auditor its region's; the buyer's platform records dispatch
    # and receipt; a platform or an office may cancel before dispatch.
    f"{_E}GetShipment": ALL,
    f"{_E}ListShipments": ALL,
    f"{_E}DispatchShipment": frozenset({ADMIN, PLATFORM}),
    f"{_E}ReceiveShipment": frozenset({ADMIN, PLATFORM}),
    # Batches (AIP-235) of the single steps, allowed as the single call is.
    f"{_E}BatchDispatchShipments": frozenset({ADMIN, PLATFORM}),
    f"{_E}BatchReceiveShipments": frozenset({ADMIN, PLATFORM}),
    f"{_E}CancelShipment": frozenset({ADMIN, OFFICE, PLATFORM}),
    # Checkout holds: only the platform that made one sees, confirms or releases it
    # (registry/season/holds.py).
    **{
        f"{_E}{name}": frozenset({ADMIN, PLATFORM})
        for name in ("GetHold", "ListHolds", "ConfirmHold", "ReleaseHold")
    },
    # The buyer's platform pays; a cooperative (or its office) pays out its members; a
    # producer's account: registry/access/scopes.py as for its producer.
    f"{_E}RecordPayment": frozenset({ADMIN, PLATFORM}),
    f"{_E}BatchRecordPayments": frozenset({ADMIN, PLATFORM}),
    f"{_E}PayDividends": frozenset({ADMIN, OFFICE, COOP}),
    f"{_E}BatchPayDividends": frozenset({ADMIN, OFFICE, COOP}),
    f"{_E}RecordDeliveries": frozenset({ADMIN, OFFICE, COOP}),
    f"{_E}GetProducerAccount": frozenset({ADMIN, OFFICE, COOP, AUDITOR}),
    # Aid after the commit: the office of the household's region disburses, records the
    # signature and claws back; auditors read the delivery report of their region.
    f"{_E}DisburseGrant": frozenset({ADMIN, OFFICE}),
    f"{_E}SignForGrant": frozenset({ADMIN, OFFICE}),
    f"{_E}ClawBackGrant": frozenset({ADMIN, OFFICE}),
    f"{_E}GetAidDelivery": frozenset({ADMIN, OFFICE, AUDITOR}),
    # Users' views: a producer's statement as its account (scopes as for its producer); a
    # buyer's owed and paid per shipment, a platform its own buyer's only; an office's
    # income of its villages' households, aggregated (no household named).
    f"{_E}GetProducerStatement": frozenset({ADMIN, OFFICE, COOP, AUDITOR}),
    f"{_E}GetBuyerStatement": frozenset({ADMIN, PLATFORM, AUDITOR}),
    f"{_E}ListVillageIncome": frozenset({ADMIN, OFFICE, AUDITOR}),
    # An office creates the keys of its region's cooperatives only (registry/access/servicer.py).
    f"{_X}CreateApiKey": frozenset({ADMIN, OFFICE}),
    f"{_X}ListApiKeys": frozenset({ADMIN}),
    f"{_X}RevokeApiKey": frozenset({ADMIN}),
    f"{_X}ListAuditEvents": frozenset({ADMIN, AUDITOR}),
    f"{_X}WhoAmI": ALL,
    # People: an office manages the users of its region (registry/access/users.py); anyone signs in
    # (no key: a password) and ends its own session.
    f"{_X}CreateUser": frozenset({ADMIN, OFFICE}),
    f"{_X}ListUsers": frozenset({ADMIN, OFFICE}),
    f"{_X}DisableUser": frozenset({ADMIN, OFFICE}),
    f"{_X}ResetPassword": frozenset({ADMIN, OFFICE}),
    f"{_X}SignIn": PUBLIC,
    f"{_X}SignOut": ALL,
    # Identification and exit cases: an office's sub-role (village committee, township, county:
    # the length of its scope) decides which steps it makes (registry/year/workflow.py STEPS).
    **{
        f"{_Y}{name}": frozenset({ADMIN, OFFICE})
        for name in (
            *("ProposeCase", "ReviewCase", "StartNotice", "RecordObjection"),
            *("ResolveObjection", "ApproveCase", "FileCase"),
        )
    },
    f"{_Y}GetCase": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_Y}ListCases": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_Y}ExportNotice": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_Y}ResurveyHouseholds": frozenset({ADMIN, OFFICE}),
    f"{_Y}RecordShock": frozenset({ADMIN, OFFICE}),
    f"{_Y}ListRisks": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_Y}WatchAlerts": frozenset({ADMIN, OFFICE, AUDITOR}),
    # Cadre work: the cadre's office region (registry/cadrework/visits.py cadre_in_scope)
    # records visits and recalls; its auditors read, visit notes masked.
    f"{_W}RecordVisit": frozenset({ADMIN, OFFICE}),
    f"{_W}ListVisits": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_W}AssessCadres": frozenset({ADMIN, OFFICE, AUDITOR}),
    f"{_W}RecallCadre": frozenset({ADMIN, OFFICE}),
    f"{_W}ListRecalls": frozenset({ADMIN, OFFICE, AUDITOR}),
    # Reports: counts and sums over the key's region (registry/reports/servicer.py).
    **{
        f"{_P}{name}": frozenset({ADMIN, OFFICE, AUDITOR})
        for name in ("StatusReport", "ExitReport", "IncomeReport", "AidReport", "CadreReport")
    },
    # Internal: a matcher apart from the registry reads and writes through these with its own
    # (admin) key.
    **{
        f"{_S}{name}": frozenset({ADMIN})
        for name in (
            *("OpenListings", "OpenListingColumns", "OpenOrders", "SupplyGeneration"),
            *("CreateRun", "UpdateRun"),
            *("GetRun", "ListRuns", "CommitProduce", "DiscardRun", "HoldListings"),
            *("AidInputs", "StoreGrants", "CommitAid", "RecordAudit"),
            *("StationingData", "ContractingData", "FinishCadreRun", "CommitCadres"),
        )
    },
    "/grpc.health.v1.Health/Check": PUBLIC,
    "/grpc.health.v1.Health/Watch": PUBLIC,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": PUBLIC,
})
# fmt: on


# Methods that read across every scope: of the roles POLICY names, only keys without a scope.
UNSCOPED: frozenset[str] = frozenset({f"{_L}VerifyLedger"})


def is_public(method: str) -> bool:
    return POLICY.get(method) is PUBLIC


def allowed(method: str, role: Role) -> bool:
    """May this role call this method? Unlisted methods: admin only."""
    roles = POLICY.get(method)
    if roles is None:
        return role is Role.ADMIN
    return roles is PUBLIC or role in roles


def permits(method: str, principal: Principal) -> bool:
    """May this key (role and scope) call this method?"""
    if method in UNSCOPED and principal.scope:
        return False
    return allowed(method, principal.role)


# What each role may do instead, named in every refusal (the CLI's commands in brackets).
INSTEAD: Mapping[Role, str] = MappingProxyType(
    {
        Role.ADMIN: "",
        Role.OFFICE: (
            "an office manages the villages, households, producers, listings, cadres and aid "
            "programmes of its region, onboards its cooperatives, and makes, commits and "
            "discards its region's aid and cadre runs"
        ),
        Role.COOPERATIVE: (
            "a cooperative creates, changes and deletes its own listings and reads what became "
            "of them in produce runs (fupin outcomes); an office or an admin creates its producer"
        ),
        Role.PLATFORM: (
            "a platform manages its buyer's orders, calls MatchProduce and QuickSource on them "
            "and commits, discards or cancels its own runs; an admin creates its buyer"
        ),
        Role.AUDITOR: "an auditor reads its region, the runs, the ledger and the audit log",
    }
)


def authorize(method: str, principal: Principal) -> None:
    name = method.rsplit("/", 1)[-1]
    if not allowed(method, principal.role):
        raise PermissionDenied(
            f"role {principal.role} may not call {name}: {INSTEAD[principal.role]}"
        )
    if not permits(method, principal):
        raise PermissionDenied(f"{name} reads every scope: it needs a key without a scope")


def current() -> Principal:
    """The caller of the RPC this thread serves (INTERNAL outside any RPC)."""
    return _CURRENT.get(INTERNAL)


def bind(principal: Principal) -> None:
    """Make principal the current caller of this thread (the interceptor, at a call's start)."""
    _CURRENT.set(principal)


def unbind() -> None:
    """At a call's end (server threads serve one call after another)."""
    _CURRENT.set(INTERNAL)
