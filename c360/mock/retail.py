"""The retailer's extracts, generated one day at a time.

Customers are drawn up front (arrays, ordered by registration time, so the customers
registered before day ``d`` are a prefix); everything else is produced day by day and
written as it is made. Events that happen later (a shipment delivered, a ticket resolved,
an order returned, an order that reaches the source system late) are parked in the batch
of the day they belong to, so each extract holds exactly what that day's export would.

Money is computed in integer cents so totals add up exactly unless a defect says otherwise.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from c360.mock import catalog as C
from c360.mock.defects import Picker
from c360.mock.output import DefectLog, Sink

CUSTOMERS = "customer/customers.csv"
LOYALTY = "customer/loyalty_program.csv"
TICKETS = "customer/support_tickets.csv"
SESSIONS = "customer/app_usage.csv"
TRANSACTIONS = "sales/transactions.csv"
ITEMS = "sales/transaction_items.csv"
REGIONAL = "sales/regional_sales.csv"
PRODUCTS = "products/products.csv"
INVENTORY = "products/inventory.csv"
SUPPLIERS = "products/suppliers.csv"
PRODUCT_SUPPLIERS = "products/product_suppliers.csv"
SHIPMENTS = "logistics/shipments.csv"
TRACKING = "logistics/tracking_events.csv"
LOCATIONS = "logistics/warehouse_locations.csv"

# Files every daily folder holds (header only on a quiet day); catalogue files come only
# on the days they change.
DAILY_FILES: tuple[str, ...] = (
    CUSTOMERS, LOYALTY, TICKETS, SESSIONS, TRANSACTIONS, ITEMS, REGIONAL, INVENTORY,
    SHIPMENTS, TRACKING,
)
# Files that may carry the extra_column defect.
EXTRA_COLUMN_FILES: tuple[str, ...] = (CUSTOMERS, TICKETS, SESSIONS, TRANSACTIONS, SHIPMENTS)

KEYS: dict[str, tuple[str, ...]] = {
    CUSTOMERS: ("customer_id",),
    LOYALTY: ("customer_id",),
    TICKETS: ("ticket_id",),
    SESSIONS: ("usage_id",),
    TRANSACTIONS: ("transaction_id",),
    ITEMS: ("item_id",),
    SHIPMENTS: ("shipment_id",),
    TRACKING: ("event_id",),
}

TIERS = ("Bronze", "Silver", "Gold", "Platinum")
SEGMENTS = ("Premium", "Standard", "Basic")
CHANNELS = ("online", "store", "mobile")
DEVICES = ("ios", "android", "web")
APP_VERSIONS = ("3.1.8", "3.2.0", "3.2.1", "3.3.0", "3.4.0")
TICKET_CATEGORIES = ("billing", "product", "shipping", "account", "technical")
TICKET_PRIORITIES = ("low", "medium", "high", "urgent")
TICKET_CHANNELS = ("email", "phone", "chat", "store")
CARRIERS = ("UPS", "FedEx", "USPS")
# level, transit days, base cost (cents), cost per kg (cents)
SERVICE_LEVELS = (
    ("standard", 4, 599, 120), ("expedited", 2, 1299, 200), ("overnight", 1, 2999, 300),
)
HUBS = ("Salt Lake City UT", "Memphis TN", "Louisville KY", "Indianapolis IN", "Ontario CA",
        "Kansas City MO", "Columbus OH")
PAYMENTS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "store": (("cash", "debit_card", "credit_card", "apple_pay"), (0.2, 0.35, 0.38, 0.07)),
    "online": (("credit_card", "paypal", "debit_card"), (0.6, 0.25, 0.15)),
    "mobile": (("apple_pay", "google_pay", "credit_card", "paypal"), (0.35, 0.25, 0.25, 0.15)),
}
# Hour-of-day weights (order time), store opening hours vs. e-commerce.
_STORE_HOURS = np.array([0] * 9 + [3, 5, 7, 8, 8, 7, 7, 8, 9, 9, 7, 4, 2] + [0, 0], float)
_WEB_HOURS = np.array(
    [2, 1, 1, 0.5, 0.5, 0.7, 1.5, 3, 4, 4, 4, 5, 6, 6, 5, 4, 4, 5, 6, 8, 9, 8, 6, 3], float
)
_SESSION_HOURS = np.array(
    [1, 0.5, 0.3, 0.2, 0.2, 0.5, 2, 5, 6, 4, 3, 3, 5, 4, 3, 3, 3, 4, 5, 6, 7, 7, 5, 2], float
)
# the column a defect damaged, as the manifest names it
_HIT_COLUMN = {
    "nonpositive_quantity": "quantity", "nonpositive_price": "unit_price",
    "orphan_product": "product_id", "total_mismatch": "total_amount",
}
_PAY_CUM = {ch: list(np.cumsum(p)) for ch, (_, p) in PAYMENTS.items()}
_WEEKDAY = (0.92, 0.88, 0.9, 0.95, 1.08, 1.22, 1.05)  # Monday first


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


@lru_cache(maxsize=8192)
def iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def clock(day: str, seconds: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` for a second of ``day`` (may run into following days)."""
    extra, seconds = divmod(seconds, 86400)
    if extra:
        day = iso(date.fromisoformat(day).toordinal() + extra)
    h, rest = divmod(seconds, 3600)
    return f"{day} {h:02d}:{rest // 60:02d}:{rest % 60:02d}"


def black_friday(year: int) -> date:
    first = date(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + timedelta(days=1)


def demand_factor(day: date) -> tuple[float, float]:
    """Order volume multiplier and discount probability for a calendar day."""
    doy = day.timetuple().tm_yday
    factor = 1.0 + 0.15 * math.cos(2 * math.pi * (doy - 350) / 365.25)
    discount = 0.22
    bf = black_friday(day.year)
    if bf <= day <= bf + timedelta(days=3):
        factor *= 2.4
        discount = 0.7
    elif (day.month == 11 and day > bf) or (day.month == 12 and day.day <= 23):
        factor *= 1.45
        discount = 0.35
    elif day.month == 7 and 10 <= day.day <= 20:  # summer sale
        factor *= 1.2
        discount = 0.5
    elif day.month == 1 and day.day <= 10:  # post-holiday lull, clearance discounts
        factor *= 0.8
        discount = 0.4
    return factor * _WEEKDAY[day.weekday()], discount


def season_weight(season: str, month: int) -> float:
    if season == "winter":
        return 2.2 if month in (11, 12, 1, 2) else (0.25 if month in (6, 7, 8) else 0.8)
    if season == "summer":
        return 2.0 if month in (5, 6, 7, 8) else (0.4 if month in (11, 12, 1, 2) else 1.0)
    if season == "spring":
        return 1.8 if month in (3, 4, 5) else 1.0
    if season == "holiday":
        return 2.0 if month in (11, 12) else 1.0
    return 1.0


@dataclass
class Batch:
    """Rows (and the defects they carry) bound for one day's extract."""

    rows: dict[str, list[list[str]]] = field(default_factory=dict)
    hits: list[tuple[str, str, str, str]] = field(default_factory=list)  # kind, file, key, col

    def add(self, file: str, row: list[str]) -> None:
        self.rows.setdefault(file, []).append(row)

    def hit(self, kind: str, file: str, key: str, column: str = "") -> None:
        self.hits.append((kind, file, key, column))


@dataclass(frozen=True)
class RetailConfig:
    customers: int
    days: int
    start: date
    defect_rate: float
    # a dump has no extract dates, so an order cannot be seen to arrive late there
    late_arrivals: bool = True


class Retail:
    """Generates the 14 retail extracts day by day into a :class:`Sink`."""

    def __init__(
        self, cfg: RetailConfig, rng: np.random.Generator, sink: Sink, log: DefectLog,
        picker: Picker,
    ):
        self.cfg = cfg
        self.rng = rng
        self.sink = sink
        self.log = log
        self.picker = picker
        self.pending: dict[int, Batch] = {}
        self.start_ord = cfg.start.toordinal()
        d = cfg.days
        # the product line launch and a mid-period price change (markdown + discontinuation)
        self.launch_day = d // 2 if d >= 2 else 10**9
        self.change_day = (3 * d) // 4 if d >= 4 and (3 * d) // 4 != d // 2 else 10**9
        self._setup_products()
        self._setup_customers()
        self._setup_inventory()
        self.next_id = {"TXN": 0, "ITM": 0, "TKT": 0, "USG": 0, "SHP": 0, "EVT": 0}

    # ------------------------------------------------------------------ setup
    def _setup_products(self) -> None:
        n = len(C.PRODUCTS)
        d = self.cfg.days  # a launch after the period is never delivered
        self.pids = [f"PRD{i + 1:03d}" for i in range(n)]
        self.price = np.array([round(p.price * 100) for p in C.PRODUCTS], dtype=np.int64)
        self.cost = np.array([round(p.cost * 100) for p in C.PRODUCTS], dtype=np.int64)
        self.status = ["seasonal" if p.season == "winter" else "active" for p in C.PRODUCTS]
        self.is_launch = np.array([p.line == "launch" for p in C.PRODUCTS])
        self.created = [
            iso(self.start_ord + min(self.launch_day, d)) if p.line == "launch"
            else iso(self.start_ord - 60 - (i * 37) % 700)
            for i, p in enumerate(C.PRODUCTS)
        ]
        self.weight_g = np.array([round(p.weight_kg * 1000) for p in C.PRODUCTS], dtype=np.int64)
        self.lead_time = [7 + (i * 5) % 15 for i in range(n)]
        # the product discontinued on the change day
        self.discontinued = self.pids.index("PRD005")

    def _setup_customers(self) -> None:
        cfg, rng = self.cfg, self.rng
        n, d = cfg.customers, cfg.days
        n_old = round(n * 0.6) if d > 0 else n
        n_new = n - n_old
        # sign-up waves: three campaigns on top of a weekday pattern
        days = np.arange(max(d, 1))
        waves = sum(4.0 * np.exp(-(((days - c * d) / max(d * 0.03, 1.0)) ** 2))
                    for c in (0.15, 0.5, 0.8))
        weekday = np.array([_WEEKDAY[(cfg.start + timedelta(days=int(x))).weekday()]
                            for x in days])
        p = (1.0 + waves) * weekday
        counts = rng.multinomial(n_new, p / p.sum()) if n_new else np.zeros(len(days), int)
        reg_day = np.concatenate([-rng.integers(1, 1500, n_old), np.repeat(days, counts)])
        reg_sec = rng.integers(6 * 3600, 23 * 3600, n)
        order = np.lexsort((reg_sec, reg_day))
        self.reg_day = reg_day[order]
        self.reg_sec = reg_sec[order]
        self.n = n
        self.cids = [f"CUST{i + 1:07d}" for i in range(n)]
        # customers registered before day k, and up to (including) day k
        self.n_before = np.searchsorted(self.reg_day, np.arange(d + 1), side="left")
        self.n_upto = np.searchsorted(self.reg_day, np.arange(d + 1), side="right")

        cw = np.array(C.CITY_WEIGHTS, float)
        self.city = rng.choice(len(C.CITIES), n, p=cw / cw.sum())
        self.female = rng.random(n) < 0.5
        self.gender = np.where(self.female, "F", "M")
        self.gender[rng.random(n) < 0.02] = "X"
        self.fname = rng.integers(0, 30, n)
        self.lname = rng.integers(0, len(C.LAST_NAMES), n)
        self.street_no = rng.integers(10, 9990, n)
        self.street = rng.integers(0, len(C.STREETS), n)
        self.zip_suffix = rng.integers(1, 99, n)
        self.dob = self.start_ord + self.reg_day - rng.integers(18 * 365, 75 * 365, n)
        self.segment = rng.choice(3, n, p=[0.2, 0.5, 0.3])
        self.pref = rng.choice(3, n, p=[0.45, 0.3, 0.25])
        self.phone = rng.integers(2_000_000, 9_999_999, n)
        self.domain = rng.integers(0, len(C.EMAIL_DOMAINS), n)
        loyal = rng.random(n) < 0.15
        seg_factor = np.array([1.5, 1.0, 0.7])[self.segment]
        rate = rng.lognormal(0.0, 0.7, n) * np.where(loyal, 3.5, 1.0) * seg_factor
        # ~4 orders per customer-year overall (with ~2.3 lines each: ~10 lines a year)
        self.rate = rate / rate.mean() * 0.0148
        churner = rng.random(n) < np.where(loyal, 0.06, 0.25)
        lo = np.maximum(self.reg_day, 0) + 20
        churn = lo + (rng.random(n) * np.maximum(int(d * 1.4) - lo, 1)).astype(np.int64)
        self.churn_day = np.where(churner, churn, 10**9)
        self.app_user = rng.random(n) < np.where(self.pref == 2, 0.7, 0.35)
        self.device = rng.choice(3, n, p=[0.45, 0.4, 0.15])
        self.session_rate = rng.lognormal(0.0, 0.6, n) * 0.03 * self.app_user
        self.app_lag = rng.integers(0, 30, n)
        self.enrolled = rng.random(n) < 0.65
        # tier by purchase rate for established customers, Bronze for new ones
        rank = np.argsort(np.argsort(-self.rate)) / max(n - 1, 1)
        tier = np.select([rank < 0.08, rank < 0.25, rank < 0.55], [3, 2, 1], 0)
        self.tier = np.where(self.reg_day < 0, tier, 0)
        self.tier_start = np.where(
            self.reg_day < 0,
            self.start_ord - rng.integers(1, 400, n),
            self.start_ord + self.reg_day,
        )
        self.tier_start = np.maximum(self.tier_start, self.start_ord + self.reg_day)
        self.tainted = np.zeros(n, bool)
        self.ltv_cents = np.where(
            self.reg_day < 0,
            (self.rate * (-self.reg_day) * 18000 * rng.uniform(0.6, 1.4, n)).astype(np.int64),
            0,
        )

    def _setup_inventory(self) -> None:
        n_prod = len(C.PRODUCTS)
        n_wh = len(C.WAREHOUSES)
        n_loc = n_wh + len(C.STORES)
        pair_of = -np.ones((n_prod, n_loc), dtype=np.int64)
        prods: list[int] = []
        locs: list[int] = []
        for p in range(n_prod):
            for loc in range(n_loc):
                # warehouses stock everything, each store about a third of the range
                if loc < n_wh or (p * 7 + loc * 3) % 3 == 0:
                    pair_of[p, loc] = len(prods)
                    prods.append(p)
                    locs.append(loc)
        self.pair_of = pair_of
        self.inv_prod = np.array(prods)
        self.inv_loc = np.array(locs)
        self.loc_ids = [w[0] for w in C.WAREHOUSES] + [s[0] for s in C.STORES]
        pop = np.array([p.popularity for p in C.PRODUCTS], float)
        orders_per_day = float(self.rate.sum()) * 0.8
        units = orders_per_day * 2.3 * 1.33 * pop / pop.sum()
        share = np.where(self.inv_loc < n_wh, 0.7 / n_wh, 0.3 / len(C.STORES) * 3)
        self.max_level = np.maximum(20, np.ceil(units[self.inv_prod] * share * 28)).astype(np.int64)
        self.reorder = np.maximum(5, self.max_level * 3 // 10)
        self.stock = (self.max_level * self.rng.uniform(0.5, 1.0, len(prods))).astype(np.int64)
        self.arrival = -np.ones(len(prods), dtype=np.int64)
        self.inv_lead = np.array(self.lead_time)[self.inv_prod]

    # ------------------------------------------------------------------ helpers
    def _id(self, prefix: str, width: int) -> str:
        self.next_id[prefix] += 1
        return f"{prefix}{self.next_id[prefix]:0{width}d}"

    def batch(self, day: int) -> Batch:
        b = self.pending.get(day)
        if b is None:
            b = self.pending[day] = Batch()
        return b

    def _email(self, i: int) -> str:
        first = (C.FIRST_NAMES_F if self.female[i] else C.FIRST_NAMES_M)[self.fname[i]]
        return f"{first.lower()}.{C.LAST_NAMES[self.lname[i]].lower()}{i + 1}@" \
               f"{C.EMAIL_DOMAINS[self.domain[i]]}"

    def customer_row(self, i: int) -> list[str]:
        city = C.CITIES[self.city[i]]
        first = (C.FIRST_NAMES_F if self.female[i] else C.FIRST_NAMES_M)[self.fname[i]]
        ph = int(self.phone[i])
        return [
            self.cids[i], first, C.LAST_NAMES[self.lname[i]], self._email(i),
            f"+1-{city.area_code}-{ph // 10000}-{ph % 10000:04d}", iso(int(self.dob[i])),
            str(self.gender[i]),
            clock(iso(self.start_ord + int(self.reg_day[i])), int(self.reg_sec[i])),
            SEGMENTS[self.segment[i]], CHANNELS[self.pref[i]],
            f"{self.street_no[i]} {C.STREETS[self.street[i]]}", city.name, city.state,
            f"{city.zip_prefix}{self.zip_suffix[i]:02d}", "USA",
        ]

    def loyalty_row(self, i: int, today: int) -> list[str]:
        tenure = max(1, today - int(self.tier_start[i]) + 30)
        earned = int(self.ltv_cents[i] // 100 * (1 + self.tier[i]) // 4) + tenure * 3
        redeemed = earned * (20 + (i * 13) % 40) // 100
        return [
            self.cids[i], TIERS[self.tier[i]], str(earned - redeemed + (i * 37) % 500),
            str(earned), str(redeemed), iso(int(self.tier_start[i])), money(int(self.ltv_cents[i])),
        ]

    # ------------------------------------------------------------------ day
    def catalogue(self, d: int) -> None:
        """Full catalogue extracts on the first day and on the days they change."""
        b = self.batch(d)
        launched = d >= self.launch_day
        if d == self.change_day:
            for i, p in enumerate(C.PRODUCTS):
                if p.season == "winter":
                    self.price[i] = max(self.price[i] * 7 // 1000 * 100 + 99, self.cost[i] + 100)
                    self.status[i] = "clearance"
            self.status[self.discontinued] = "discontinued"
        if d in (0, self.launch_day, self.change_day):
            for i, p in enumerate(C.PRODUCTS):
                if self.is_launch[i] and not launched:
                    continue
                b.add(PRODUCTS, [
                    self.pids[i], p.name, p.category, p.subcategory, p.brand,
                    money(int(self.price[i])), money(int(self.cost[i])), f"{p.weight_kg:.3f}",
                    p.dimensions, p.color, p.size, self.created[i], self.status[i],
                ])
        if d in (0, self.launch_day):
            for i, p in enumerate(C.PRODUCTS):
                if self.is_launch[i] and not launched:
                    continue
                primary, alt = C.CATEGORY_SUPPLIERS[p.category]
                b.add(PRODUCT_SUPPLIERS, [self.pids[i], C.SUPPLIERS[primary][0], "true",
                                          money(int(self.cost[i])), str(self.lead_time[i])])
                if alt >= 0 and i % 2 == 0:
                    b.add(PRODUCT_SUPPLIERS, [
                        self.pids[i], C.SUPPLIERS[alt][0], "false",
                        money(int(self.cost[i]) * 103 // 100), str(self.lead_time[i] + 4),
                    ])
        if d == 0:
            for s in C.SUPPLIERS:
                b.add(SUPPLIERS, list(s))
            for loc in C.WAREHOUSES + C.STORES:
                lid, name, kind, address, city, state, cap, manager = loc
                b.add(LOCATIONS, [lid, name, kind, address, city, state, "USA", str(cap), manager])

    def customers(self, d: int) -> None:
        b = self.batch(d)
        lo = 0 if d == 0 else int(self.n_upto[d - 1])
        hi = int(self.n_upto[d])
        kinds = self.picker.assign(
            CUSTOMERS,
            ("duplicate_row", "malformed_email", "malformed_phone", "future_birth_date",
             "missing_mandatory"),
            hi - lo, self.rng, d,
        )
        blank = C.BLANKABLE[CUSTOMERS]
        cols = C.COLUMNS[CUSTOMERS]
        for i, kind in zip(range(lo, hi), kinds, strict=True):
            row = self.customer_row(i)
            cid = row[0]
            if kind is not None:
                self.tainted[i] = True
            if kind == "malformed_email":
                email = row[3]
                row[3] = (email.replace("@", "", 1), email.replace("@", "@@", 1),
                          email.replace(".", " ", 1), email.rsplit(".", 1)[0])[i % 4]
                b.hit(kind, CUSTOMERS, cid, "email")
            elif kind == "malformed_phone":
                digits = row[4].replace("-", "").replace("+", "")
                row[4] = (digits[-6:], row[4][:-2] + "X" + row[4][-1], digits + "99")[i % 3]
                b.hit(kind, CUSTOMERS, cid, "phone")
            elif kind == "future_birth_date":
                row[5] = iso(self.start_ord + d + 30 + i % 3000)
                b.hit(kind, CUSTOMERS, cid, "date_of_birth")
            elif kind == "missing_mandatory":
                column = blank[i % len(blank)]
                row[cols.index(column)] = ""
                b.hit(kind, CUSTOMERS, cid, column)
            b.add(CUSTOMERS, row)
            if kind == "duplicate_row":
                b.add(CUSTOMERS, list(row))
                b.hit(kind, CUSTOMERS, cid)
            if self.enrolled[i]:
                b.add(LOYALTY, self.loyalty_row(i, self.start_ord + d))
        if d > 0:
            self._resend_changed(d, b)

    def _resend_changed(self, d: int, b: Batch) -> None:
        """Customers who moved or changed loyalty tier: the same key again, changed."""
        nb = int(self.n_before[d])
        if nb == 0 or self.cfg.defect_rate <= 0:
            return
        k = int(self.rng.poisson(self.cfg.defect_rate * self.n / max(self.cfg.days, 1)))
        picks = self.rng.integers(0, nb, k + 8).tolist()
        want_move = self.picker.wants("resent_changed", CUSTOMERS, d)
        want_tier = self.picker.wants("resent_changed", LOYALTY, d)
        done: set[int] = set()
        today = self.start_ord + d
        for j, i in enumerate(picks):
            forced = j >= k
            if forced and not (want_move or want_tier):
                break
            if i in done or self.tainted[i]:
                continue
            tier_change = bool(self.enrolled[i]) and (want_tier if forced else j % 3 == 0)
            if forced and not tier_change and not want_move:
                continue
            done.add(i)
            if tier_change:
                self.tier[i] = self.tier[i] + 1 if self.tier[i] < 3 else 2
                self.tier_start[i] = today
                b.add(LOYALTY, self.loyalty_row(i, today))
                b.hit("resent_changed", LOYALTY, self.cids[i], "loyalty_tier")
                want_tier = False
            else:
                self.street_no[i] = (self.street_no[i] * 7 + 13) % 9980 + 10
                # a different street whatever j is, so the change is always visible
                self.street[i] = (self.street[i] + 1 + j % 39) % len(C.STREETS)
                if j % 3 == 1:
                    self.city[i] = (self.city[i] + 1 + j) % len(C.CITIES)
                b.add(CUSTOMERS, self.customer_row(i))
                b.hit("resent_changed", CUSTOMERS, self.cids[i], "address_line1")
                want_move = False

    def sales(self, d: int) -> None:
        rng, cfg = self.rng, self.cfg
        today = cfg.start + timedelta(days=d)
        ds = today.isoformat()
        b = self.batch(d)
        nb = int(self.n_before[d])
        factor, p_disc = demand_factor(today)
        if nb:
            w = self.rate[:nb] * (self.churn_day[:nb] > d)
            fading = (self.churn_day[:nb] - d) < 30
            w = np.where(fading, w * 0.5, w)
            total_w = float(w.sum())
        else:
            total_w = 0.0
        k = int(rng.poisson(total_w * factor)) if total_w > 0 else 0
        regional = [[0, 0] for _ in C.REGIONS]
        demand = np.zeros(len(self.inv_prod), dtype=np.int64)
        if k:
            cust = rng.choice(nb, size=k, p=w / total_w)
            pref = self.pref[cust]
            other = (pref + rng.integers(1, 3, k)) % 3
            channel = np.where(rng.random(k) < 0.7, pref, other)
            store_h = rng.choice(24, size=k, p=_STORE_HOURS / _STORE_HOURS.sum())
            web_h = rng.choice(24, size=k, p=_WEB_HOURS / _WEB_HOURS.sum())
            sec = np.where(channel == 1, store_h, web_h) * 3600 + rng.integers(0, 3600, k)
            n_lines = 1 + np.minimum(rng.poisson(1.3, k), 7)
            launched = d >= self.launch_day
            pw = np.array([
                0.0 if (self.is_launch[i] and not launched)
                or (i == self.discontinued and d >= self.change_day)
                else p.popularity * season_weight(p.season, today.month)
                * ((2.0 if d - self.launch_day < 14 else 1.3) if self.is_launch[i] else 1.0)
                for i, p in enumerate(C.PRODUCTS)
            ])
            total_lines = int(n_lines.sum())
            prod = rng.choice(len(pw), size=total_lines, p=pw / pw.sum())
            qty = rng.choice(4, size=total_lines, p=[0.76, 0.17, 0.05, 0.02]) + 1
            seg_bonus = np.where(self.segment[cust] == 0, 0.08, 0.0)
            has_disc = rng.random(k) < p_disc + seg_bonus
            pct = rng.choice(np.array([10, 15, 20, 25]), size=k, p=[0.4, 0.3, 0.2, 0.1])
            fate = rng.random(k)
            aux_a = rng.random((k, 6))
            order = np.argsort(sec, kind="stable")
            t_kinds = self.picker.assign(
                TRANSACTIONS,
                ("duplicate_row", "total_mismatch", "missing_mandatory", "late_arriving"),
                k, rng, d,
            )
            l_kinds = self.picker.assign(
                ITEMS,
                ("duplicate_row", "nonpositive_quantity", "nonpositive_price", "orphan_product",
                 "missing_mandatory"),
                total_lines, rng, d,
            )
            starts = np.concatenate([[0], np.cumsum(n_lines)]).tolist()
            aux_l, fate_l = aux_a.tolist(), fate.tolist()
            disc_l = np.where(has_disc, pct, 0).tolist()
            weight_l = self.weight_g.tolist()
            cust_l, channel_l, sec_l = cust.tolist(), channel.tolist(), sec.tolist()
            prod_l, qty_l = prod.tolist(), qty.tolist()
            price_l = self.price.tolist()
            t_blank, l_blank = C.BLANKABLE[TRANSACTIONS], C.BLANKABLE[ITEMS]
            # order line -> inventory pair (store stock for store orders, else the warehouse)
            loc_order = np.where(
                channel == 1,
                len(C.WAREHOUSES) + np.array([C.CITIES[c].store for c in range(len(C.CITIES))])[
                    self.city[cust]],
                np.array([C.REGIONS[C.CITIES[c].region][2] for c in range(len(C.CITIES))])[
                    self.city[cust]],
            )
            order_of_line = np.repeat(np.arange(k), n_lines)
            pair = self.pair_of[prod, loc_order[order_of_line]]
            fallback = self.pair_of[prod, np.array([
                C.REGIONS[C.CITIES[c].region][2] for c in range(len(C.CITIES))
            ])[self.city[cust]][order_of_line]]
            pair = np.where(pair < 0, fallback, pair)
            live = fate[order_of_line] >= 0.03
            np.add.at(demand, pair[live], qty[live])
            for j in order.tolist():
                c = cust_l[j]
                ch = CHANNELS[channel_l[j]]
                city = C.CITIES[self.city[c]]
                tid = self._id("TXN", 9)
                t_kind = t_kinds[j]
                disc_pct = disc_l[j]
                aux = aux_l[j]
                lines: list[list[str]] = []
                line_hits: list[tuple[str, str, str]] = []
                sub = disc = 0
                clean = t_kind is None
                weight = 0
                for li in range(starts[j], starts[j + 1]):
                    p, q = prod_l[li], qty_l[li]
                    unit = price_l[p]
                    weight += weight_l[p] * q
                    pid = self.pids[p]
                    kind = l_kinds[li]
                    if kind is not None:
                        clean = False
                    if kind == "nonpositive_quantity":
                        q = 0 if li % 2 else -1
                    elif kind == "nonpositive_price":
                        unit = 0 if li % 2 else -unit
                    elif kind == "orphan_product":
                        pid = f"PRD9{li % 100:02d}"
                    lt = q * unit
                    da = (lt * disc_pct + 50) // 100 if lt > 0 else 0
                    sub += lt
                    disc += da
                    iid = self._id("ITM", 10)
                    row = [iid, tid, pid, str(q), money(unit), money(lt), money(da)]
                    if kind == "missing_mandatory":
                        column = l_blank[li % len(l_blank)]
                        row[C.COLUMNS[ITEMS].index(column)] = ""
                        line_hits.append((kind, iid, column))
                    elif kind is not None:
                        line_hits.append((kind, iid, _HIT_COLUMN.get(kind, "")))
                    lines.append(row)
                    if kind == "duplicate_row":
                        lines.append(list(row))
                tax = (max(sub - disc, 0) * round(city.tax_rate * 100000) + 50000) // 100000
                total = sub - disc + tax
                cancel_p = 0.005 if ch == "store" else 0.03
                status = "cancelled" if fate_l[j] < cancel_p else "completed"
                when = clock(ds, sec_l[j])
                pay_names = PAYMENTS[ch][0]
                pay = pay_names[bisect.bisect_right(_PAY_CUM[ch], aux[0] * 0.9999)]
                store = C.STORES[city.store][0] if ch == "store" else ""
                shown_total = total
                if t_kind == "total_mismatch":
                    delta = 1 + int(aux[1] * 500)
                    shown_total = total + (delta if aux[2] < 0.5 else -delta)
                row_t = [tid, self.cids[c], when, ch, store, pay, money(sub), money(tax),
                         money(disc), money(shown_total), "USD", status]
                target = d
                hits: list[tuple[str, str, str, str]] = []
                if t_kind == "missing_mandatory":
                    column = t_blank[j % len(t_blank)]
                    row_t[C.COLUMNS[TRANSACTIONS].index(column)] = ""
                    hits.append((t_kind, TRANSACTIONS, tid, column))
                elif t_kind == "late_arriving":
                    delay = 1 + int(aux[3] * 3)
                    if d + delay < cfg.days and cfg.late_arrivals:
                        target = d + delay
                        hits.append((t_kind, TRANSACTIONS, tid, ""))
                        hits.extend(
                            ("late_arriving", ITEMS, iid, "")
                            for iid in dict.fromkeys(row[0] for row in lines)
                        )
                elif t_kind is not None:
                    hits.append((t_kind, TRANSACTIONS, tid, _HIT_COLUMN.get(t_kind, "")))
                hits.extend((kind, ITEMS, iid, col) for kind, iid, col in line_hits)
                tb = self.batch(target)
                tb.add(TRANSACTIONS, row_t)
                if t_kind == "duplicate_row":
                    tb.add(TRANSACTIONS, list(row_t))
                for row in lines:
                    tb.add(ITEMS, row)
                for hit in hits:
                    tb.hit(*hit)
                if target == d and status == "completed":
                    reg = regional[city.region]
                    reg[0] += total
                    reg[1] += 1
                self.ltv_cents[c] += total if status == "completed" else 0
                returned_on = None
                if ch != "store" and status == "completed":
                    delivered = self._ship(d, tid, c, city, weight, sec_l[j], aux)
                    returned_on = delivered + 3 + int(aux[1] * 20)
                elif ch == "store" and status == "completed":
                    returned_on = d + 3 + int(aux[4] * 20)
                if (clean and status == "completed" and fate_l[j] > 0.95 and returned_on is not None
                        and returned_on < cfg.days):
                    resent = list(row_t)
                    resent[-1] = "returned"
                    self.batch(returned_on).add(TRANSACTIONS, resent)
        for r, (rid, name, _) in enumerate(C.REGIONS):
            revenue, count = regional[r]
            aov = (revenue + count // 2) // count if count else 0
            b.add(REGIONAL, [rid, name, "USA", ds, money(revenue), str(count), money(aov)])
        self._inventory(d, ds, demand)

    def _ship(self, d: int, tid: str, c: int, city: C.City, weight_g: int, sec: int,
              aux: list[float]) -> int:
        """Schedule a shipment's versions and tracking events; returns the delivery day."""
        rng = self.rng
        ship_day = d + (0 if sec < 14 * 3600 and aux[5] < 0.6 else 1 + int(aux[5] > 0.85))
        level_i = 0 if aux[4] < 0.7 else (1 if aux[4] < 0.9 else 2)
        level, transit, base_cost, per_kg = SERVICE_LEVELS[level_i]
        today = self.cfg.start + timedelta(days=d)
        peak = today.month == 12 or (today.month == 11 and today.day > 20)
        u = rng.random(4).tolist()
        delay = 0
        if u[0] < (0.2 if peak else 0.08):
            delay = 1 + int(u[1] * 5)
        elif level == "standard" and u[1] < 0.2:
            delay = -1
        est = ship_day + transit
        actual = est + delay
        if ship_day >= self.cfg.days:
            return actual
        carrier = CARRIERS[int(u[2] * 3)]
        sid = self._id("SHP", 9)
        n = self.next_id["SHP"]
        tracking = {
            "UPS": f"1Z{n * 7919 % 10**6:06d}A{n:010d}",
            "FedEx": f"{n * 7 + 100000000000:012d}",
            "USPS": f"9400{n * 13 % 10**6:06d}{n:012d}",
        }[carrier]
        region = C.CITIES[self.city[c]].region
        wh = C.WAREHOUSES[C.REGIONS[region][2]]
        kg = max(weight_g, 100) / 1000
        dims = "15x12x5 cm" if kg < 0.5 else ("25x20x10 cm" if kg < 2 else "40x30x20 cm")
        cost = base_cost + int(per_kg * kg)
        dest = f"{self.street_no[c]} {C.STREETS[self.street[c]]} {city.name} {city.state}"
        start_ord = self.start_ord
        base = [sid, tid, tracking, carrier, level, wh[0], dest, f"{kg:.1f}", dims,
                iso(start_ord + ship_day), iso(start_ord + est)]
        kind = self.picker.assign(SHIPMENTS, ("duplicate_row",), 1, rng, d)[0]
        sb = self.batch(ship_day)
        sb.add(SHIPMENTS, [*base, "", "in_transit", money(cost)])
        if kind:
            sb.add(SHIPMENTS, [*base, "", "in_transit", money(cost)])
            sb.hit(kind, SHIPMENTS, sid)
        if delay > 0 and est < self.cfg.days:
            self.batch(est).add(SHIPMENTS, [*base, "", "delayed", money(cost)])
        if actual < self.cfg.days:
            self.batch(actual).add(
                SHIPMENTS, [*base, iso(start_ord + actual), "delivered", money(cost)]
            )
        origin = f"{wh[4]} {wh[5]}"
        dest_city = f"{city.name} {city.state}"
        hub = HUBS[region]
        t0 = 8 * 3600 + int(u[3] * 4 * 3600)
        events = [
            (ship_day, t0, "picked_up", origin, "Package picked up from warehouse", "IP"),
            (ship_day, t0 + 5 * 3600, "in_transit", origin, "Departed from origin facility", "DP"),
        ]
        if transit > 1 and est - ship_day > 1:
            events += [
                (ship_day + 1, 9 * 3600, "in_transit", hub, "Arrived at sort facility", "AR"),
                (ship_day + 1, 16 * 3600, "in_transit", hub, "Departed from sort facility", "DP"),
            ]
        if delay > 0:
            events.append((est, 10 * 3600, "exception", hub,
                           "Delivery delayed - carrier network congestion", "DE"))
        events += [
            (actual, 7 * 3600 + int(u[3] * 7200), "out_for_delivery", dest_city,
             "Out for delivery", "OFD"),
            (actual, 11 * 3600 + int(u[2] * 6 * 3600), "delivered", dest_city,
             "Package delivered", "DL"),
        ]
        kinds = self.picker.assign(TRACKING, ("duplicate_row",), len(events), rng, d)
        for (day, t, etype, loc, desc, code), ekind in zip(events, kinds, strict=True):
            if day >= self.cfg.days:
                continue
            eid = self._id("EVT", 10)
            row = [eid, sid, clock(iso(start_ord + day), t), etype, loc, desc, code]
            eb = self.batch(day)
            eb.add(TRACKING, row)
            if ekind:
                eb.add(TRACKING, list(row))
                eb.hit(ekind, TRACKING, eid)
        return actual

    def _inventory(self, d: int, ds: str, demand: np.ndarray) -> None:
        self.stock = np.maximum(self.stock - demand, 0)
        arrived = self.arrival == d
        refill = np.minimum(self.stock + self.max_level - self.reorder, self.max_level)
        self.stock = np.where(arrived, refill, self.stock)
        self.arrival = np.where(arrived, -1, self.arrival)
        low = (self.stock <= self.reorder) & (self.arrival < 0)
        self.arrival = np.where(low, d + self.inv_lead, self.arrival)
        reserved = self.stock * np.where(self.inv_loc < len(C.WAREHOUSES), 8, 3) // 100
        launched = d >= self.launch_day
        b = self.batch(d)
        stamp = f"{ds} 22:00:00"
        for pair, (p, loc) in enumerate(zip(self.inv_prod.tolist(), self.inv_loc.tolist(),
                                            strict=True)):
            if self.is_launch[p] and not launched:
                continue
            b.add(INVENTORY, [
                f"INV{pair + 1:06d}", self.pids[p], self.loc_ids[loc], str(int(self.stock[pair])),
                str(int(reserved[pair])), str(int(self.reorder[pair])),
                str(int(self.max_level[pair])), stamp,
            ])

    def tickets(self, d: int) -> None:
        rng = self.rng
        nb = int(self.n_before[d])
        if nb == 0:
            return
        ds = iso(self.start_ord + d)
        to_churn = self.churn_day[:nb] - d
        gone = to_churn <= -10
        w = np.where(gone, 0.0, 0.0015) + np.where((to_churn > 0) & (to_churn <= 45), 0.02, 0.0)
        total = float(w.sum())
        k = int(rng.poisson(total * _WEEKDAY[(self.cfg.start + timedelta(days=d)).weekday()]))
        if k == 0:
            return
        cust = rng.choice(nb, size=k, p=w / total)
        created = np.sort(rng.integers(7 * 3600, 21 * 3600, k))
        hours = rng.lognormal(math.log(14), 1.0, k)
        u = rng.random((k, 5))
        kinds = self.picker.assign(
            TICKETS, ("duplicate_row", "resolved_before_created", "orphan_customer",
                      "missing_mandatory"), k, rng, d,
        )
        blank = C.BLANKABLE[TICKETS]
        for j in range(k):
            c = int(cust[j])
            tid = self._id("TKT", 8)
            at_risk = 0 < to_churn[c] <= 45
            cat = TICKET_CATEGORIES[int(u[j, 0] * 5)] if not at_risk else \
                ("billing", "product", "shipping", "shipping", "technical")[int(u[j, 0] * 5)]
            prio = TICKET_PRIORITIES[int(u[j, 1] ** (0.7 if at_risk else 1.5) * 4)]
            chan = TICKET_CHANNELS[int(u[j, 2] * 4)]
            created_s = int(created[j])
            resolved_s = created_s + int(hours[j] * (0.5 if prio == "urgent" else 1.0) * 3600)
            resolved_day = d + resolved_s // 86400
            score = str((1, 1, 2, 2, 3)[int(u[j, 3] * 5)]) if at_risk else str((2, 3, 4, 4, 5, 5)[int(u[j, 3] * 6)])
            if u[j, 4] < 0.15:
                score = ""  # no survey answer
            kind = kinds[j]
            single = resolved_day == d
            if kind in ("resolved_before_created", "orphan_customer", "missing_mandatory") \
                    and not single:
                kind = None
            cid = self.cids[c]
            row_resolved = clock(ds, resolved_s)
            b = self.batch(d)
            if kind == "orphan_customer":
                cid = f"CUST9{j % 1000:06d}"
                b.hit(kind, TICKETS, tid, "customer_id")
            elif kind == "resolved_before_created":
                row_resolved = clock(iso(self.start_ord + d - 2), created_s + 86400 * 2
                                     - 3600 * (1 + j % 30))
                b.hit(kind, TICKETS, tid, "resolved_date")
            if single:
                row = [tid, cid, clock(ds, created_s), row_resolved, cat, prio, "resolved", chan,
                       score]
            else:
                row = [tid, cid, clock(ds, created_s), "", cat, prio,
                       "open" if u[j, 4] < 0.6 else "in_progress", chan, ""]
                if resolved_day < self.cfg.days:
                    self.batch(resolved_day).add(TICKETS, [
                        tid, cid, clock(ds, created_s), clock(ds, resolved_s), cat, prio,
                        "resolved" if u[j, 3] < 0.8 else "closed", chan, score,
                    ])
            if kind == "missing_mandatory":
                column = blank[j % len(blank)]
                row[C.COLUMNS[TICKETS].index(column)] = ""
                b.hit(kind, TICKETS, tid, column)
            b.add(TICKETS, row)
            if kind == "duplicate_row":
                b.add(TICKETS, list(row))
                b.hit(kind, TICKETS, tid)

    def sessions(self, d: int) -> None:
        rng = self.rng
        nb = int(self.n_before[d])
        if nb == 0:
            return
        ds = iso(self.start_ord + d)
        to_churn = self.churn_day[:nb] - d
        w = self.session_rate[:nb] * np.where(to_churn <= 0, 0.0,
                                              np.where(to_churn < 30, 0.3, 1.0))
        total = float(w.sum())
        if total <= 0:
            return
        k = int(rng.poisson(total * _WEEKDAY[(self.cfg.start + timedelta(days=d)).weekday()]))
        if k == 0:
            return
        cust = rng.choice(nb, size=k, p=w / total)
        sec = rng.choice(24, size=k, p=_SESSION_HOURS / _SESSION_HOURS.sum()) * 3600 \
            + rng.integers(0, 3600, k)
        order = np.argsort(sec, kind="stable")
        duration = np.maximum(1, rng.lognormal(math.log(14), 0.7, k)).astype(np.int64)
        pages = np.maximum(1, (duration * rng.uniform(0.25, 0.6, k)).astype(np.int64))
        actions = (pages * rng.uniform(0.2, 0.8, k)).astype(np.int64)
        kinds = self.picker.assign(SESSIONS, ("duplicate_row",), k, rng, d)
        # releases: two before the period, three spread over it
        releases = [-120, -40, self.cfg.days * 3 // 10, self.cfg.days * 6 // 10,
                    self.cfg.days * 9 // 10]
        b = self.batch(d)
        sec_l, duration_l = sec.tolist(), duration.tolist()
        pages_l, actions_l = pages.tolist(), actions.tolist()
        for j in order.tolist():
            c = int(cust[j])
            version = 0
            for v, rel in enumerate(releases):
                if rel + self.app_lag[c] <= d:
                    version = v
            uid = self._id("USG", 9)
            row = [uid, self.cids[c], ds, clock(ds, sec_l[j]), str(duration_l[j]),
                   str(pages_l[j]), str(actions_l[j]), DEVICES[self.device[c]],
                   APP_VERSIONS[version]]
            b.add(SESSIONS, row)
            if kinds[j]:
                b.add(SESSIONS, list(row))
                b.hit("duplicate_row", SESSIONS, uid)

    def day(self, d: int) -> None:
        """Produce day ``d``'s records, then write that day's batch (incl. parked rows)."""
        self.catalogue(d)
        self.customers(d)
        self.sales(d)
        self.tickets(d)
        self.sessions(d)
        self.flush(d)

    def flush(self, d: int) -> None:
        b = self.pending.pop(d, Batch())
        ds = iso(self.start_ord + d)
        for file in C.COLUMNS:
            rows: Sequence[list[str]] = b.rows.get(file, [])
            if rows:
                self.sink.write(file, rows)
        for kind, file, key, column in b.hits:
            self.log.add(kind, file, self.sink.relpath(file), ds, KEYS[file], key, column)
