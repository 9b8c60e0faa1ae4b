"""The sandbox database: the platform's schema, realistic seeded data, and planted problems.

Data is generated in Python from a seeded ``random.Random`` (same seed and anchor time, same
rows) and loaded with COPY, which loads the ~57,000 rows in well under a second where row-by-row
INSERTs would take many. Timestamps are placed relative to ``anchor`` (default: now) so the data
looks current whenever the sandbox comes up: availability updates over the last 90 days, leads
over the last year.

Later issues plant problems (an unused index, dead tuples, a superuser role, ...) as separate
functions registered with :func:`planted`; :func:`plant_problems` runs them after seeding.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import importlib.resources
import random
from typing import Callable

import psycopg

from upkeep.sandbox.seed_vocabulary import (BRANDS, CATEGORIES, CITIES, COMPANY_KINDS, COMPANY_WORDS, EMAIL_DOMAINS,
                                           FIRST_NAMES, LAST_NAMES, LEAD_SOURCES, TESTIMONIAL_LINES)

APP_ROLE = "almazahir_app"
APP_DATABASE = "almazahir"
DEFAULT_SEED = 20240917

# COPY column order per table; the generator builds tuples in exactly this order.
COLUMNS = {
    "categories": ("id", "slug", "name", "description", "sort_order", "is_active", "created_at", "updated_at"),
    "users": ("id", "email", "full_name", "role", "password_hash", "is_active", "last_login_at", "created_at"),
    "products": ("id", "category_id", "sku", "slug", "name", "description", "unit", "price", "currency",
                 "stock_quantity", "availability", "is_featured", "image_url", "created_at", "updated_at"),
    "availability_updates": ("id", "product_id", "previous_status", "new_status", "previous_stock", "new_stock",
                             "changed_by", "note", "created_at"),
    "leads": ("id", "name", "phone", "email", "company", "message", "source", "status", "product_id",
              "assigned_to", "created_at", "updated_at"),
    "testimonials": ("id", "author_name", "company", "rating", "body", "is_published", "display_order", "created_at"),
}
# Load order respects the foreign keys.
TABLES = tuple(COLUMNS)
# Positions in a product row, which the generator updates as stock moves.
_P = {column: index for index, column in enumerate(COLUMNS["products"])}


@dataclasses.dataclass(frozen=True)
class Volume:
    products: int = 2000
    availability_updates: int = 50000
    leads: int = 5000
    testimonials: int = 200
    users: int = 50


# Relative activity per hour of the day (UTC+4 business hours peak).
HOURLY_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 10, 12, 13, 12, 10, 8, 6, 5, 4, 3, 2, 1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _slugify(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _business_time(rng: random.Random, start: datetime.datetime, days: float) -> datetime.datetime:
    """A time within [start, start + days), weighted towards business hours as real traffic is."""
    day = start + datetime.timedelta(days=int(rng.random() * days))
    hour = rng.choices(range(24), weights=HOURLY_WEIGHTS)[0]
    moment = day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
    return max(start, min(moment, start + datetime.timedelta(days=days)))


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return first, last


def _company(rng: random.Random) -> str:
    return "%s %s %s LLC" % (rng.choice(COMPANY_WORDS), rng.choice(COMPANY_WORDS), rng.choice(COMPANY_KINDS))


def _phone(rng: random.Random) -> str:
    return "+971 5%d %03d %04d" % (rng.choice((0, 2, 4, 5, 6, 8)), rng.randrange(1000), rng.randrange(10000))


def _fake_hash(rng: random.Random) -> str:
    # bcrypt-shaped but random: it verifies no password, so the sandbox leaks none.
    alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "$2b$12$" + "".join(rng.choice(alphabet) for _ in range(53))


def _status_for(stock: int) -> str:
    if stock == 0:
        return "out_of_stock"
    return "low_stock" if stock < 20 else "in_stock"


def _users(rng, volume, anchor):
    rows, seen = [], set()
    for user_id in range(1, volume.users + 1):
        first, last = _person(rng)
        local = "%s.%s" % (first.lower(), last.lower().replace(" ", ""))
        email, n = local, 1
        while email in seen:
            n += 1
            email = "%s%d" % (local, n)
        seen.add(email)
        role = "admin" if user_id <= 3 else ("editor" if user_id <= 15 else "viewer")
        created = anchor - datetime.timedelta(days=rng.randrange(100, 1100))
        login_roll = rng.random()
        if login_roll < 0.08:
            last_login = None  # invited, never signed in
        elif login_roll < 0.25:
            last_login = anchor - datetime.timedelta(days=rng.randrange(120, 400), minutes=rng.randrange(1440))
        else:
            last_login = anchor - datetime.timedelta(days=rng.randrange(0, 30), minutes=rng.randrange(1440))
        rows.append((user_id, email + "@almazahir.com", "%s %s" % (first, last), role, _fake_hash(rng),
                     rng.random() > 0.06, last_login, created))
    return rows


def _catalogue(rng, volume, anchor):
    categories, products = [], []
    per_category = [volume.products // len(CATEGORIES)] * len(CATEGORIES)
    for i in range(volume.products % len(CATEGORIES)):
        per_category[i] += 1
    product_id = 0
    for cat_id, ((slug, name, description, unit, (low, high), items, specs), count) in enumerate(
            zip(CATEGORIES, per_category), start=1):
        created = anchor - datetime.timedelta(days=900 + cat_id)
        categories.append((cat_id, slug, name, description, cat_id * 10, True, created, created))
        base_price = {item: rng.uniform(low, high) for item in items}
        combos = [(b, i, s) for b in BRANDS for i in items for s in specs]
        for n, (brand, item, spec) in enumerate(rng.sample(combos, count), start=1):
            product_id += 1
            title = "%s %s %s" % (brand, item, spec)
            price = decimal.Decimal(base_price[item] * rng.uniform(0.7, 1.6)).quantize(decimal.Decimal("0.01"))
            stock = rng.choice((0, rng.randrange(1, 20), rng.randrange(20, 800), rng.randrange(20, 800)))
            made = anchor - datetime.timedelta(days=rng.randrange(95, 880))
            sku, product_slug = "%s-%05d" % (slug[:3].upper(), n), "%s-%d" % (_slugify(title), product_id)
            products.append([product_id, cat_id, sku, product_slug,
                             title, "%s by %s, %s. Supplied across the UAE." % (item, brand, spec), unit, price, "AED",
                             stock, _status_for(stock), rng.random() < 0.04,
                             "/images/products/%s/%d.jpg" % (slug, product_id), made, made])
    return categories, products


def _availability_updates(rng, volume, anchor, products, staff_ids):
    """Stock movements over 90 days, chained per product so previous_* match the prior update;
    the products end in the state their last update left them in."""
    start = anchor - datetime.timedelta(days=90)
    times = sorted(_business_time(rng, start, 90) for _ in range(volume.availability_updates))
    # A few products move a lot, most rarely: Pareto-weighted picks.
    weights = [rng.paretovariate(1.2) for _ in products]
    picks = rng.choices(range(len(products)), weights=weights, k=volume.availability_updates)
    rows = []
    for update_id, (when, index) in enumerate(zip(times, picks), start=1):
        product = products[index]
        prev_stock, prev_status = product[_P["stock_quantity"]], product[_P["availability"]]
        roll = rng.random()
        if roll < 0.02:
            new_stock, new_status = prev_stock, rng.choice(("on_request", "discontinued"))
            note = "Status set manually by sales"
        elif prev_stock < 30 and roll < 0.5 or roll < 0.1:
            new_stock = prev_stock + rng.randrange(20, 300)
            new_status, note = _status_for(new_stock), "Restocked from supplier shipment"
        elif roll < 0.93:
            new_stock = max(0, prev_stock - rng.randrange(1, 80))
            new_status, note = _status_for(new_stock), "Stock reduced after sale"
        else:
            new_stock = max(0, prev_stock + rng.randrange(-15, 16))
            new_status, note = _status_for(new_stock), "Stock count correction"
        changed_by = None if rng.random() < 0.3 else rng.choice(staff_ids)
        if changed_by is None:
            note = "Automatic ERP sync"
        rows.append((update_id, product[_P["id"]], prev_status, new_status, prev_stock, new_stock, changed_by, note,
                     when))
        product[_P["stock_quantity"]], product[_P["availability"]] = new_stock, new_status
        product[_P["updated_at"]] = when
    return rows


def _leads(rng, volume, anchor, products, staff_ids):
    rows = []
    sources, source_weights = zip(*LEAD_SOURCES)
    start = anchor - datetime.timedelta(days=365)
    # Ids grow with time, as the app's inserts make them.
    times = sorted(_business_time(rng, start, 365) for _ in range(volume.leads))
    for lead_id, created in enumerate(times, start=1):
        first, last = _person(rng)
        source = rng.choices(sources, weights=source_weights)[0]
        age_days = (anchor - created).days
        product = rng.choice(products) if source in ("product_inquiry", "quote_request") or rng.random() < 0.3 else None
        phone = _phone(rng) if source == "whatsapp" or rng.random() < 0.6 else None
        email = None if source == "whatsapp" and rng.random() < 0.7 else "%s.%s%d@%s" % (
            first.lower(), last.lower().replace(" ", ""), rng.randrange(100), rng.choice(EMAIL_DOMAINS))
        if phone is None and email is None:
            phone = _phone(rng)
        quantity = rng.choice((5, 10, 20, 50, 100, 250))
        if product is not None:
            message = "Please share price and availability for %d x %s (%s). Delivery to %s." % (
                quantity, product[_P["name"]], product[_P["sku"]], rng.choice(CITIES))
        else:
            message = rng.choice(("Do you deliver to %s? We need materials for a villa project.",
                                  "Looking for a supplier for our site in %s, please call back.",
                                  "Can you send your catalogue and trade prices? Based in %s.")) % rng.choice(CITIES)
        if rng.random() < 0.03:
            status = "spam"
        elif age_days < 3:
            status = rng.choice(("new", "new", "new", "contacted"))
        elif age_days < 14:
            status = rng.choice(("new", "contacted", "contacted", "qualified"))
        else:
            status = rng.choices(("contacted", "qualified", "converted", "closed"), weights=(2, 2, 3, 4))[0]
        assigned = None if status in ("new", "spam") else rng.choice(staff_ids)
        updated = created
        if status != "new":
            updated = min(anchor, created + datetime.timedelta(hours=rng.randrange(1, 24 * 10)))
        rows.append((lead_id, "%s %s" % (first, last), phone, email, _company(rng) if rng.random() < 0.6 else None,
                     message, source, status, product[_P["id"]] if product else None, assigned, created, updated))
    return rows


def _testimonials(rng, volume, anchor, categories):
    rows, order = [], 0
    start = anchor - datetime.timedelta(days=3 * 365)
    times = sorted(_business_time(rng, start, 3 * 365) for _ in range(volume.testimonials))
    for testimonial_id, created in enumerate(times, start=1):
        first, last = _person(rng)
        item = rng.choice(rng.choice(CATEGORIES)[5]).lower()
        published = rng.random() < 0.7
        if published:
            order += 1
        rows.append((testimonial_id, "%s %s" % (first, last), _company(rng) if rng.random() < 0.8 else None,
                     rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 4, 12, 22))[0],
                     rng.choice(TESTIMONIAL_LINES).format(city=rng.choice(CITIES), item=item), published,
                     order if published else None, created))
    return rows


def generate(volume: Volume = Volume(), seed: int = DEFAULT_SEED,
             anchor: datetime.datetime | None = None) -> dict[str, list[tuple]]:
    """Every table's rows (tuples in ``COLUMNS`` order). Pure: same arguments, same rows."""
    anchor = anchor or _now()
    rng = random.Random(seed)
    users = _users(rng, volume, anchor)
    staff_ids = [u[0] for u in users if u[3] in ("admin", "editor")]
    categories, products = _catalogue(rng, volume, anchor)
    updates = _availability_updates(rng, volume, anchor, products, staff_ids)
    leads = _leads(rng, volume, anchor, products, staff_ids)
    testimonials = _testimonials(rng, volume, anchor, categories)
    return {"categories": categories, "users": users, "products": [tuple(p) for p in products],
            "availability_updates": updates, "leads": leads, "testimonials": testimonials}


AFTER_LOAD_MARKER = "-- upkeep:after-load"


def schema_sql() -> tuple[str, str]:
    """schema.sql in two parts: the tables, and what comes after the data (foreign keys, indexes)."""
    text = importlib.resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")
    before, _, after = text.partition(AFTER_LOAD_MARKER)
    return before, after


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Row count of every platform table (exact, by count(*))."""
    with conn.cursor() as cur:
        return {t: cur.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in TABLES}


def is_seeded(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('public.testimonials') IS NOT NULL").fetchone()[0]


def seed_database(conn: psycopg.Connection, volume: Volume = Volume(), seed: int = DEFAULT_SEED,
                  anchor: datetime.datetime | None = None,
                  data: dict[str, list[tuple]] | None = None) -> dict[str, int]:
    """Create the schema and load the data (``data``, else ``generate(volume, seed, anchor)``) in
    one transaction; returns the row counts.

    ``conn`` is connected to the app database as the app role, so the role owns what it
    creates. A database that already holds the schema is left as it is (the sandbox's ``up``
    runs again over an existing cluster)."""
    if is_seeded(conn):
        return table_counts(conn)
    data = data if data is not None else generate(volume, seed, anchor)
    tables_sql, after_load_sql = schema_sql()
    with conn.transaction():
        conn.execute(tables_sql)
        with conn.cursor() as cur:
            for table in TABLES:
                with cur.copy("COPY %s (%s) FROM STDIN" % (table, ", ".join(COLUMNS[table]))) as copy:
                    for row in data[table]:
                        copy.write_row(row)
                # Ids were loaded explicitly: move each identity past them so the app can insert.
                cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM " + table + "))",
                            (table,))
        conn.execute(after_load_sql)
        conn.execute("ANALYZE")
    return {table: len(rows) for table, rows in data.items()}


# Planted problems: name -> function(admin_conn, app_conn). admin_conn is a superuser connection
# to the app database, app_conn the app role's (both autocommit). Later issues register theirs
# with @planted. The sandbox runs them once after seeding; each must still be idempotent, since a
# lost state.json makes ``up`` run them again over the same database.
PlantFn = Callable[[psycopg.Connection, psycopg.Connection], None]
PLANTED_PROBLEMS: dict[str, PlantFn] = {}


def planted(name: str) -> Callable[[PlantFn], PlantFn]:
    def register(fn: PlantFn) -> PlantFn:
        PLANTED_PROBLEMS[name] = fn
        return fn
    return register


def plant_problems(admin_conn: psycopg.Connection, app_conn: psycopg.Connection,
                   names: list[str] | None = None) -> list[str]:
    """Run the registered planted problems (all, or ``names``) in registration order."""
    chosen = list(PLANTED_PROBLEMS) if names is None else names
    unknown = [n for n in chosen if n not in PLANTED_PROBLEMS]
    if unknown:
        raise KeyError("unknown planted problem(s): %s" % ", ".join(unknown))
    for name in chosen:
        PLANTED_PROBLEMS[name](admin_conn, app_conn)
    return chosen
