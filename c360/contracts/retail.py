"""The retailer's 14 source contracts (columns as in the reference extracts).

Enumerations list the values the source systems are documented to send; a value
outside them is quarantined, not guessed. Money is decimal(12,2) so sums are exact.
"""

from __future__ import annotations

from c360.contracts.model import Col, Contract, FkPolicy, ForeignKey, Rule, Std

EMAIL_RE = r"^[a-z0-9._%+'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
# After standardisation a country is a two-letter code; a name nobody mapped stays as sent and fails this.
COUNTRY_RE = r"^[A-Z]{2}$"
E164_RE = r"^\+[1-9][0-9]{6,14}$"
CHANNELS = ("online", "store", "mobile")
# Line totals are accepted gross (qty x price, as the reference extract sends them) or
# net of the line discount (as the order-line spec describes), within a cent per unit.
LINE_TOTAL_RULE = Rule(
    "line_total_mismatch",
    "abs(line_total - quantity * unit_price) <= 0.01 * greatest(quantity, 1)"
    " OR abs(line_total - (quantity * unit_price - coalesce(discount_applied, 0))) <= 0.01 * greatest(quantity, 1)",
    "line_total equals quantity x unit_price, gross or net of discount_applied",
)

CUSTOMERS = Contract(
    domain="customer",
    source="customers",
    description="Customer master records from the CRM; a changed record is re-sent whole.",
    key=("customer_id",),
    subject="customer_id",
    keep_year_of=("date_of_birth",),
    columns=(
        Col("customer_id", required=True, description="CRM customer id", pattern=r"^[A-Z0-9_-]+$"),
        Col("first_name", pii=True, required=True, description="given name"),
        Col("last_name", pii=True, required=True, description="family name"),
        # Required: the CRM cannot create a customer without one (the source spec lists it as mandatory).
        Col("email", pii=True, std=Std.EMAIL, pattern=EMAIL_RE, required=True, description="e-mail address"),
        Col("phone", pii=True, std=Std.PHONE, pattern=E164_RE, description="phone number, E.164"),
        Col("date_of_birth", "date", pii=True, description="date of birth"),
        Col("gender", std=Std.UPPER, enum=("F", "M", "X", "U"), description="F, M, X (other) or U (unknown)"),
        Col("registration_date", "timestamp", required=True, description="when the customer signed up (UTC)"),
        Col("customer_segment", enum=("Premium", "Standard", "Basic"), description="CRM segment"),
        Col("preferred_channel", std=Std.LOWER, enum=CHANNELS, description="channel the customer prefers"),
        Col("address_line1", pii=True, description="street address"),
        Col("city", description="city"),
        Col("state", std=Std.UPPER, description="state or region code"),
        Col("zip_code", description="postal code"),
        Col("country", std=Std.COUNTRY, pattern=COUNTRY_RE, description="ISO 3166-1 alpha-2 country code"),
    ),
    rules=(
        Rule("birth_date_in_future", "date_of_birth <= _extract_date", "born on or before the extract date"),
        Rule("birth_date_implausible", "date_of_birth >= DATE'1900-01-01'", "born after 1900"),
        Rule("registered_in_future", "to_date(registration_date) <= _extract_date", "registered by the extract date"),
    ),
)

LOYALTY = Contract(
    domain="customer",
    source="loyalty_program",
    description="Loyalty programme membership per customer; tier changes are re-sent.",
    key=("customer_id",),
    subject="customer_id",
    columns=(
        Col("customer_id", required=True, description="CRM customer id"),
        Col("loyalty_tier", enum=("Bronze", "Silver", "Gold", "Platinum"), required=True, description="tier"),
        Col("points_balance", "long", ge=0, description="points available"),
        Col("points_earned_ytd", "long", ge=0, description="points earned this year"),
        Col("points_redeemed_ytd", "long", ge=0, description="points redeemed this year"),
        Col("tier_start_date", "date", description="since when the customer holds the tier"),
        Col("lifetime_value", "money", ge=0, description="the loyalty system's own CLV figure (input, not ours)"),
    ),
    foreign_keys=(ForeignKey("customer_id", "customer.customers", "customer_id", FkPolicy.FLAG),),
)

SUPPORT_TICKETS = Contract(
    domain="customer",
    source="support_tickets",
    description="Support tickets; open tickets have no resolution date or score yet.",
    key=("ticket_id",),
    subject="customer_id",
    columns=(
        Col("ticket_id", required=True, description="ticket id"),
        Col("customer_id", required=True, description="customer who raised it"),
        Col("created_date", "timestamp", required=True, description="opened at (UTC)"),
        Col("resolved_date", "timestamp", description="resolved at (UTC); empty while open"),
        Col(
            "category",
            std=Std.LOWER,
            enum=("billing", "product", "shipping", "account", "technical", "returns", "other"),
            description="topic",
        ),
        Col("priority", std=Std.LOWER, enum=("low", "medium", "high", "urgent"), description="priority"),
        Col(
            "status",
            std=Std.LOWER,
            enum=("open", "in_progress", "resolved", "closed"),
            required=True,
            description="state",
        ),
        Col("channel", std=Std.LOWER, enum=("email", "phone", "chat", "store", "app"), description="contact channel"),
        Col("satisfaction_score", "int", ge=1, le=5, description="1-5 CSAT; empty = not answered"),
    ),
    rules=(Rule("resolved_before_created", "resolved_date >= created_date", "resolved on or after creation"),),
    foreign_keys=(ForeignKey("customer_id", "customer.customers", "customer_id", FkPolicy.FLAG),),
)

APP_USAGE = Contract(
    domain="customer",
    source="app_usage",
    description="App sessions of customers using the mobile or web app.",
    key=("usage_id",),
    subject="customer_id",
    columns=(
        Col("usage_id", required=True, description="session id"),
        Col("customer_id", required=True, description="customer"),
        Col("session_date", "date", required=True, description="session day"),
        Col("session_start", "timestamp", description="session start (UTC)"),
        Col("session_duration_minutes", "int", ge=0, le=1440, description="length in minutes"),
        Col("pages_viewed", "int", ge=0, description="pages viewed"),
        Col("actions_taken", "int", ge=0, description="actions taken"),
        Col("device_type", std=Std.LOWER, enum=("ios", "android", "web"), description="device"),
        Col("app_version", description="app version"),
    ),
    rules=(
        Rule("session_start_not_on_session_date", "to_date(session_start) = session_date", "start on the session date"),
    ),
    foreign_keys=(ForeignKey("customer_id", "customer.customers", "customer_id", FkPolicy.FLAG),),
)

TRANSACTIONS = Contract(
    domain="sales",
    source="transactions",
    description="Orders (POS and e-commerce) with their totals; status carries cancellations and returns.",
    key=("transaction_id",),
    subject="customer_id",
    columns=(
        Col("transaction_id", required=True, description="order id"),
        Col("customer_id", required=True, description="buying customer"),
        Col("transaction_date", "timestamp", required=True, description="ordered at (UTC)"),
        Col("channel", std=Std.LOWER, enum=CHANNELS, required=True, description="sales channel"),
        Col("store_id", description="store for store orders"),
        Col(
            "payment_method",
            std=Std.LOWER,
            enum=("credit_card", "debit_card", "paypal", "cash", "apple_pay", "google_pay", "gift_card"),
            description="payment",
        ),
        Col("subtotal", "money", ge=0, required=True, description="sum of lines"),
        Col("tax_amount", "money", ge=0, description="tax"),
        Col("discount_amount", "money", ge=0, description="order discount"),
        Col("total_amount", "money", ge=0, required=True, description="subtotal + tax - discount"),
        Col("currency", std=Std.CURRENCY, enum=("USD", "EUR", "GBP", "CAD"), required=True, description="ISO 4217"),
        Col(
            "status",
            std=Std.LOWER,
            enum=("completed", "pending", "cancelled", "returned", "refunded"),
            required=True,
            description="order state",
        ),
    ),
    rules=(
        Rule(
            "total_mismatch",
            "abs(total_amount - (subtotal + coalesce(tax_amount, 0) - coalesce(discount_amount, 0))) <= 0.01",
            "total = subtotal + tax - discount",
        ),
        Rule(
            "store_order_without_store", "channel <> 'store' OR store_id IS NOT NULL", "store orders name their store"
        ),
    ),
    foreign_keys=(ForeignKey("customer_id", "customer.customers", "customer_id", FkPolicy.FLAG),),
)

TRANSACTION_ITEMS = Contract(
    domain="sales",
    source="transaction_items",
    description="Order lines.",
    key=("item_id",),
    columns=(
        Col("item_id", required=True, description="line id"),
        Col("transaction_id", required=True, description="order"),
        Col("product_id", required=True, description="product"),
        Col("quantity", "int", gt=0, required=True, description="units"),
        Col("unit_price", "money", gt=0, required=True, description="price per unit"),
        Col("line_total", "money", ge=0, required=True, description="line amount"),
        Col("discount_applied", "money", ge=0, description="discount on the line"),
    ),
    rules=(LINE_TOTAL_RULE,),
    foreign_keys=(
        ForeignKey("product_id", "products.products", "product_id", FkPolicy.QUARANTINE),
        ForeignKey("transaction_id", "sales.transactions", "transaction_id", FkPolicy.FLAG),
    ),
)

REGIONAL_SALES = Contract(
    domain="sales",
    source="regional_sales",
    description="Daily revenue per region as reported by the regional systems.",
    key=("region_id", "sales_date"),
    columns=(
        Col("region_id", required=True, description="region"),
        Col("region_name", description="region name"),
        Col("country", std=Std.COUNTRY, pattern=COUNTRY_RE, description="ISO country"),
        Col("sales_date", "date", required=True, description="day"),
        # The regional system's own figures, net of what it received: a day whose only order
        # had a negative line reports negative revenue. Kept as reported (it is the source's
        # view, compared with ours downstream), so no lower bound on the money columns.
        Col("total_revenue", "money", description="revenue as reported"),
        Col("total_transactions", "long", ge=0, description="orders"),
        Col("average_order_value", "money", description="revenue / orders as reported"),
    ),
)

PRODUCTS = Contract(
    domain="products",
    source="products",
    description="The product catalogue; price, cost, category and status change over time.",
    key=("product_id",),
    columns=(
        Col("product_id", required=True, description="product id"),
        Col("product_name", required=True, description="name"),
        Col("category", required=True, description="category"),
        Col("subcategory", description="subcategory / product line"),
        Col("brand", description="brand"),
        Col("price", "money", gt=0, required=True, description="list price"),
        Col("cost", "money", ge=0, description="unit cost"),
        Col("weight_kg", "decimal3", ge=0, description="weight"),
        Col("dimensions", description="free text"),
        Col("color", description="colour"),
        Col("size", description="size"),
        Col("created_date", "date", description="catalogue entry date (launch)"),
        Col(
            "status",
            std=Std.LOWER,
            # clearance: the catalogue's end-of-season markdown status (sent with the price change)
            enum=("active", "inactive", "seasonal", "clearance", "discontinued"),
            required=True,
            description="lifecycle",
        ),
    ),
)

INVENTORY = Contract(
    domain="products",
    source="inventory",
    description="Stock per product and location, snapshot at last_updated.",
    key=("inventory_id",),
    columns=(
        Col("inventory_id", required=True, description="snapshot row id"),
        Col("product_id", required=True, description="product"),
        Col("location_id", required=True, description="warehouse or store"),
        Col("stock_quantity", "long", ge=0, description="on hand"),
        Col("reserved_quantity", "long", ge=0, description="reserved"),
        Col("reorder_point", "long", ge=0, description="reorder point"),
        Col("max_stock_level", "long", ge=0, description="capacity"),
        Col("last_updated", "timestamp", required=True, description="snapshot time (UTC)"),
    ),
    foreign_keys=(ForeignKey("product_id", "products.products", "product_id", FkPolicy.FLAG),),
)

SUPPLIERS = Contract(
    domain="products",
    source="suppliers",
    description="Suppliers; contact person, e-mail and phone are personal data.",
    key=("supplier_id",),
    columns=(
        Col("supplier_id", required=True, description="supplier id"),
        Col("supplier_name", required=True, description="company name"),
        Col("contact_person", pii=True, description="contact's name"),
        Col("email", pii=True, std=Std.EMAIL, pattern=EMAIL_RE, description="contact e-mail"),
        Col("phone", pii=True, std=Std.PHONE, pattern=E164_RE, description="contact phone"),
        Col("address", description="company address"),
        Col("country", std=Std.COUNTRY, pattern=COUNTRY_RE, description="ISO country"),
        Col("payment_terms", description="terms"),
        Col("quality_rating", "double", ge=0, le=5, description="0-5 rating"),
    ),
)

PRODUCT_SUPPLIERS = Contract(
    domain="products",
    source="product_suppliers",
    description="Which supplier delivers which product, at what cost.",
    key=("product_id", "supplier_id"),
    columns=(
        Col("product_id", required=True, description="product"),
        Col("supplier_id", required=True, description="supplier"),
        Col("is_primary", "boolean", std=Std.BOOL, description="primary supplier"),
        Col("cost_price", "money", ge=0, description="purchase price"),
        Col("lead_time_days", "int", ge=0, description="lead time"),
    ),
    foreign_keys=(
        ForeignKey("product_id", "products.products", "product_id", FkPolicy.FLAG),
        ForeignKey("supplier_id", "products.suppliers", "supplier_id", FkPolicy.FLAG),
    ),
)

SHIPMENTS = Contract(
    domain="logistics",
    source="shipments",
    description="Shipments of orders, promised and actual delivery.",
    key=("shipment_id",),
    columns=(
        Col("shipment_id", required=True, description="shipment id"),
        Col("transaction_id", required=True, description="order shipped"),
        Col("tracking_number", description="carrier tracking number"),
        Col("carrier", description="carrier"),
        Col(
            "service_level",
            std=Std.LOWER,
            enum=("standard", "expedited", "overnight", "economy"),
            description="service",
        ),
        Col("origin_location", description="warehouse or store shipped from"),
        Col("destination_address", pii=True, description="delivery address"),
        Col("weight_kg", "decimal3", ge=0, description="weight"),
        Col("dimensions", description="free text"),
        Col("ship_date", "date", description="shipped on"),
        Col("estimated_delivery", "date", description="promised delivery"),
        Col("actual_delivery", "date", description="delivered on"),
        Col(
            "delivery_status",
            std=Std.LOWER,
            enum=("pending", "in_transit", "delivered", "delayed", "returned", "lost", "cancelled"),
            description="state",
        ),
        Col("shipping_cost", "money", ge=0, description="cost"),
    ),
    rules=(
        Rule("delivered_before_shipped", "actual_delivery >= ship_date", "delivered on or after shipping"),
        Rule("promised_before_shipped", "estimated_delivery >= ship_date", "promise on or after shipping"),
    ),
    foreign_keys=(ForeignKey("transaction_id", "sales.transactions", "transaction_id", FkPolicy.FLAG),),
)

TRACKING_EVENTS = Contract(
    domain="logistics",
    source="tracking_events",
    description="Carrier tracking events per shipment.",
    key=("event_id",),
    columns=(
        Col("event_id", required=True, description="event id"),
        Col("shipment_id", required=True, description="shipment"),
        Col("event_timestamp", "timestamp", required=True, description="when (UTC)"),
        Col(
            "event_type",
            std=Std.LOWER,
            enum=("label_created", "picked_up", "in_transit", "out_for_delivery", "delivered", "exception", "returned"),
            description="event",
        ),
        Col("location", description="where"),
        Col("description", description="carrier text"),
        Col("carrier_status", std=Std.UPPER, description="carrier status code"),
    ),
    foreign_keys=(ForeignKey("shipment_id", "logistics.shipments", "shipment_id", FkPolicy.FLAG),),
)

WAREHOUSE_LOCATIONS = Contract(
    domain="logistics",
    source="warehouse_locations",
    description="Warehouses, distribution centres and stores.",
    key=("location_id",),
    columns=(
        Col("location_id", required=True, description="location id"),
        Col("location_name", required=True, description="name"),
        Col(
            "location_type",
            std=Std.LOWER,
            enum=("warehouse", "distribution_center", "store"),
            required=True,
            description="type",
        ),
        Col("address", description="street address of the site"),
        Col("city", description="city"),
        Col("state", std=Std.UPPER, description="state"),
        Col("country", std=Std.COUNTRY, pattern=COUNTRY_RE, description="ISO country"),
        Col("capacity_cubic_meters", "long", ge=0, description="capacity"),
        Col("manager_name", pii=True, description="site manager"),
    ),
)

RETAIL_CONTRACTS: tuple[Contract, ...] = (
    # Parents before children: foreign keys are checked against what is already sanitized.
    CUSTOMERS,
    LOYALTY,
    PRODUCTS,
    SUPPLIERS,
    PRODUCT_SUPPLIERS,
    WAREHOUSE_LOCATIONS,
    INVENTORY,
    TRANSACTIONS,
    TRANSACTION_ITEMS,
    REGIONAL_SALES,
    SUPPORT_TICKETS,
    APP_USAGE,
    SHIPMENTS,
    TRACKING_EVENTS,
)
