"""Static master data and the extract contracts of the generated source set.

Column lists keep the reference extracts' folders, names and order (the source contracts
c360 must also ingest unchanged); the generator adds no columns of its own, so a file
only grows a column when the ``extra_column`` defect says so.
"""

from __future__ import annotations

from typing import NamedTuple

# file (relative to an extract folder) -> columns, in delivery order
COLUMNS: dict[str, tuple[str, ...]] = {
    "customer/customers.csv": (
        "customer_id", "first_name", "last_name", "email", "phone", "date_of_birth", "gender",
        "registration_date", "customer_segment", "preferred_channel", "address_line1", "city",
        "state", "zip_code", "country",
    ),
    "customer/loyalty_program.csv": (
        "customer_id", "loyalty_tier", "points_balance", "points_earned_ytd",
        "points_redeemed_ytd", "tier_start_date", "lifetime_value",
    ),
    "customer/support_tickets.csv": (
        "ticket_id", "customer_id", "created_date", "resolved_date", "category", "priority",
        "status", "channel", "satisfaction_score",
    ),
    "customer/app_usage.csv": (
        "usage_id", "customer_id", "session_date", "session_start", "session_duration_minutes",
        "pages_viewed", "actions_taken", "device_type", "app_version",
    ),
    "sales/transactions.csv": (
        "transaction_id", "customer_id", "transaction_date", "channel", "store_id",
        "payment_method", "subtotal", "tax_amount", "discount_amount", "total_amount",
        "currency", "status",
    ),
    "sales/transaction_items.csv": (
        "item_id", "transaction_id", "product_id", "quantity", "unit_price", "line_total",
        "discount_applied",
    ),
    "sales/regional_sales.csv": (
        "region_id", "region_name", "country", "sales_date", "total_revenue",
        "total_transactions", "average_order_value",
    ),
    "products/products.csv": (
        "product_id", "product_name", "category", "subcategory", "brand", "price", "cost",
        "weight_kg", "dimensions", "color", "size", "created_date", "status",
    ),
    "products/inventory.csv": (
        "inventory_id", "product_id", "location_id", "stock_quantity", "reserved_quantity",
        "reorder_point", "max_stock_level", "last_updated",
    ),
    "products/suppliers.csv": (
        "supplier_id", "supplier_name", "contact_person", "email", "phone", "address",
        "country", "payment_terms", "quality_rating",
    ),
    "products/product_suppliers.csv": (
        "product_id", "supplier_id", "is_primary", "cost_price", "lead_time_days",
    ),
    "logistics/shipments.csv": (
        "shipment_id", "transaction_id", "tracking_number", "carrier", "service_level",
        "origin_location", "destination_address", "weight_kg", "dimensions", "ship_date",
        "estimated_delivery", "actual_delivery", "delivery_status", "shipping_cost",
    ),
    "logistics/tracking_events.csv": (
        "event_id", "shipment_id", "event_timestamp", "event_type", "location", "description",
        "carrier_status",
    ),
    "logistics/warehouse_locations.csv": (
        "location_id", "location_name", "location_type", "address", "city", "state",
        "country", "capacity_cubic_meters", "manager_name",
    ),
    "air_quality/stations.csv": (
        "station_id", "name", "latitude", "longitude", "city", "country", "time_zone",
    ),
}

# Columns a clean record always fills; the missing_mandatory defect empties one of these.
MANDATORY: dict[str, tuple[str, ...]] = {
    "customer/customers.csv": (
        "customer_id", "first_name", "last_name", "email", "registration_date", "country",
    ),
    "customer/support_tickets.csv": ("ticket_id", "customer_id", "created_date", "status"),
    "customer/app_usage.csv": ("usage_id", "customer_id", "session_date", "session_start"),
    "sales/transactions.csv": (
        "transaction_id", "customer_id", "transaction_date", "channel", "total_amount", "status",
    ),
    "sales/transaction_items.csv": (
        "item_id", "transaction_id", "product_id", "quantity", "unit_price", "line_total",
    ),
    "logistics/shipments.csv": ("shipment_id", "transaction_id", "carrier", "ship_date"),
}

# The column missing_mandatory empties, per file (never the record's own key).
BLANKABLE: dict[str, tuple[str, ...]] = {
    "customer/customers.csv": ("email", "registration_date", "last_name"),
    "customer/support_tickets.csv": ("customer_id", "created_date"),
    "sales/transactions.csv": ("customer_id", "transaction_date", "total_amount"),
    "sales/transaction_items.csv": ("product_id", "quantity"),
}

# Reading units per pollutant (the contract; unit_mixup breaks it for ppm pollutants).
POLLUTANT_UNITS: dict[str, str] = {
    "pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "co": "ppm", "so2": "ppb", "no2": "ppb",
}
POLLUTANT_DECIMALS: dict[str, int] = {"pm25": 1, "pm10": 1, "o3": 3, "co": 2, "so2": 1, "no2": 1}


class City(NamedTuple):
    name: str
    state: str
    region: int  # index into REGIONS
    zip_prefix: str
    area_code: str
    tax_rate: float
    store: int  # index into STORES of the customer's home store


REGIONS: tuple[tuple[str, str, int], ...] = (
    # (region_id, name, index into WAREHOUSES that ships to it)
    ("RGN001", "Pacific Northwest", 0),
    ("RGN002", "California", 1),
    ("RGN003", "Texas", 4),
    ("RGN004", "Northeast", 2),
    ("RGN005", "Southeast", 3),
    ("RGN006", "Mountain", 1),
    ("RGN007", "Midwest", 2),
)

# location_id, name, type, address, city, state, capacity, manager
WAREHOUSES: tuple[tuple[str, str, str, str, str, str, int, str], ...] = (
    ("WH001", "Seattle Distribution Center", "distribution_center", "1000 Commerce Blvd",
     "Seattle", "WA", 50000, "Jennifer Martinez"),
    ("WH002", "Los Angeles Warehouse", "warehouse", "2500 Industrial Ave", "Los Angeles", "CA",
     35000, "Robert Chen"),
    ("WH003", "Chicago Hub", "distribution_center", "1500 Logistics Dr", "Chicago", "IL", 45000,
     "Maria Thompson"),
    ("WH004", "Atlanta Regional Center", "distribution_center", "3000 Supply Chain Rd",
     "Atlanta", "GA", 40000, "David Rodriguez"),
    ("WH005", "Dallas Warehouse", "warehouse", "750 Distribution Way", "Dallas", "TX", 30000,
     "Lisa Anderson"),
)
STORES: tuple[tuple[str, str, str, str, str, str, int, str], ...] = (
    ("ST001", "Downtown Seattle Store", "store", "456 Pike St", "Seattle", "WA", 500,
     "Sarah Johnson"),
    ("ST002", "Portland Main Store", "store", "789 Broadway Ave", "Portland", "OR", 600,
     "Michael Davis"),
    ("ST003", "San Francisco Flagship", "store", "123 Market St", "San Francisco", "CA", 800,
     "Emily Wilson"),
    ("ST004", "Los Angeles West Store", "store", "321 Santa Monica Blvd", "Los Angeles", "CA",
     550, "James Brown"),
    ("ST005", "Denver Store", "store", "654 16th Street Mall", "Denver", "CO", 450,
     "Amanda Miller"),
    ("ST006", "Austin Store", "store", "987 Congress Ave", "Austin", "TX", 400,
     "Christopher Lee"),
    ("ST007", "Miami Beach Store", "store", "147 Ocean Drive", "Miami", "FL", 350,
     "Nicole Garcia"),
    ("ST008", "Chicago Downtown", "store", "258 State St", "Chicago", "IL", 700, "Daniel White"),
    ("ST009", "Boston Commons Store", "store", "369 Newbury St", "Boston", "MA", 520,
     "Lisa Taylor"),
    ("ST010", "Phoenix Store", "store", "741 Central Ave", "Phoenix", "AZ", 480, "Kevin Jones"),
)

CITIES: tuple[City, ...] = (
    City("Seattle", "WA", 0, "981", "206", 0.1025, 0),
    City("Spokane", "WA", 0, "992", "509", 0.09, 0),
    City("Portland", "OR", 0, "972", "503", 0.0, 1),
    City("San Francisco", "CA", 1, "941", "415", 0.08625, 2),
    City("Sacramento", "CA", 1, "958", "916", 0.0875, 2),
    City("Los Angeles", "CA", 1, "900", "213", 0.095, 3),
    City("San Diego", "CA", 1, "921", "619", 0.0775, 3),
    City("Denver", "CO", 5, "802", "303", 0.0881, 4),
    City("Phoenix", "AZ", 5, "850", "602", 0.086, 9),
    City("Las Vegas", "NV", 5, "891", "702", 0.0838, 9),
    City("Austin", "TX", 2, "787", "512", 0.0825, 5),
    City("Dallas", "TX", 2, "752", "214", 0.0825, 5),
    City("Houston", "TX", 2, "770", "713", 0.0825, 5),
    City("Chicago", "IL", 6, "606", "312", 0.1025, 7),
    City("Detroit", "MI", 6, "482", "313", 0.06, 7),
    City("Minneapolis", "MN", 6, "554", "612", 0.08025, 7),
    City("Boston", "MA", 3, "021", "617", 0.0625, 8),
    City("New York", "NY", 3, "100", "212", 0.08875, 8),
    City("Philadelphia", "PA", 3, "191", "215", 0.08, 8),
    City("Miami", "FL", 4, "331", "305", 0.07, 6),
    City("Atlanta", "GA", 4, "303", "404", 0.089, 6),
    City("Nashville", "TN", 4, "372", "615", 0.0925, 6),
    City("Charlotte", "NC", 4, "282", "704", 0.0725, 6),
)
# relative population of each city (sampling weights for customer homes)
CITY_WEIGHTS: tuple[float, ...] = (
    6, 2, 4, 5, 2, 8, 4, 4, 5, 3, 4, 5, 5, 7, 3, 3, 4, 9, 4, 4, 4, 3, 3,
)

FIRST_NAMES_F: tuple[str, ...] = (
    "Sarah", "Emily", "Jessica", "Amanda", "Lisa", "Maria", "Nicole", "Stephanie", "Laura",
    "Olivia", "Emma", "Sophia", "Ava", "Isabella", "Mia", "Chloe", "Grace", "Hannah", "Zoe",
    "Natalie", "Priya", "Mei", "Fatima", "Ana", "Yuki", "Elena", "Aisha", "Rachel", "Julia",
    "Megan",
)
FIRST_NAMES_M: tuple[str, ...] = (
    "Michael", "David", "Robert", "James", "Christopher", "Daniel", "Kevin", "John", "Matthew",
    "Andrew", "Joshua", "Ryan", "Brandon", "Ethan", "Noah", "Liam", "Lucas", "Carlos", "Diego",
    "Wei", "Raj", "Omar", "Hiroshi", "Ivan", "Samuel", "Benjamin", "Nathan", "Tyler", "Aaron",
    "Marcus",
)
LAST_NAMES: tuple[str, ...] = (
    "Johnson", "Chen", "Rodriguez", "Thompson", "Williams", "Davis", "Miller", "Wilson",
    "Anderson", "Taylor", "Garcia", "Brown", "Jones", "Lee", "White", "Martinez", "Harris",
    "Clark", "Lewis", "Walker", "Hall", "Allen", "Young", "King", "Wright", "Lopez", "Hill",
    "Scott", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Perez", "Roberts",
    "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart",
    "Nguyen", "Patel", "Kim", "Singh", "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Reed",
    "Bailey", "Bell", "Gomez", "Kelly", "Howard", "Ward",
)
STREETS: tuple[str, ...] = (
    "Main St", "Oak Ave", "Pine St", "Elm Dr", "Maple Blvd", "Cedar Ln", "Birch Ave",
    "Spruce St", "Willow Rd", "Poplar Dr", "Ash St", "Holly Ln", "Magnolia Ave", "Dogwood Dr",
    "Sycamore Rd", "Lake St", "Hill Rd", "Park Ave", "River Rd", "Sunset Blvd", "Washington St",
    "Lincoln Ave", "Jefferson St", "Madison Ave", "Franklin St", "Highland Ave", "Chestnut St",
    "Walnut St", "Cherry Ln", "Meadow Dr", "Forest Ave", "Valley Rd", "Bay St", "Harbor Dr",
    "Ridge Rd", "Church St", "Mill St", "Spring St", "Center St", "Broad St",
)
EMAIL_DOMAINS: tuple[str, ...] = (
    "email.com", "mail.com", "inbox.net", "example.org", "webmail.com", "post.net",
)


class Product(NamedTuple):
    name: str
    category: str
    subcategory: str
    brand: str
    price: float
    cost: float
    weight_kg: float
    dimensions: str
    color: str
    size: str
    popularity: float  # relative demand
    season: str  # "" (flat), "winter", "summer", "spring", "holiday"
    line: str  # product line; "launch" = the line launched mid-period


PRODUCTS: tuple[Product, ...] = (
    Product("Wireless Bluetooth Headphones", "Electronics", "Audio", "SoundTech", 149.99, 89.99,
            0.35, "20x18x8 cm", "Black", "One Size", 5, "holiday", "core"),
    Product("Premium Running Shoes", "Footwear", "Athletic", "RunFast", 149.99, 75.0, 0.8,
            "N/A", "Blue", "10", 5, "spring", "core"),
    Product("Cotton T-Shirt Classic", "Apparel", "Shirts", "BasicWear", 29.99, 12.5, 0.2, "N/A",
            "White", "M", 9, "summer", "core"),
    Product("Stainless Steel Water Bottle", "Home & Garden", "Drinkware", "HydroLife", 39.99,
            18.0, 0.45, "25x8x8 cm", "Silver", "750ml", 7, "summer", "core"),
    Product("Smartphone Case", "Electronics", "Accessories", "TechGuard", 24.99, 8.5, 0.1,
            "16x8x1 cm", "Black", "iPhone 15", 9, "", "core"),
    Product("Yoga Mat Premium", "Sports & Fitness", "Equipment", "ZenFlow", 75.0, 35.0, 1.2,
            "180x60x0.6 cm", "Purple", "Standard", 4, "", "core"),
    Product("Coffee Maker Deluxe", "Home & Kitchen", "Appliances", "BrewMaster", 199.99, 120.0,
            3.5, "35x25x30 cm", "Black", "12 Cup", 3, "holiday", "core"),
    Product("Winter Jacket", "Apparel", "Outerwear", "WarmCoat", 250.0, 125.0, 1.1, "N/A",
            "Navy", "L", 4, "winter", "core"),
    Product("Gaming Mouse", "Electronics", "Computer", "GamePro", 125.99, 65.0, 0.15,
            "12x7x4 cm", "RGB", "One Size", 4, "holiday", "core"),
    Product("Organic Face Moisturizer", "Beauty", "Skincare", "PureGlow", 69.99, 28.0, 0.2,
            "10x5x15 cm", "N/A", "50ml", 6, "", "core"),
    Product("Electric Toothbrush", "Personal Care", "Oral Care", "CleanSmile", 299.99, 150.0,
            0.6, "25x5x5 cm", "White", "One Size", 2, "holiday", "core"),
    Product("Leather Wallet", "Accessories", "Wallets", "CraftLeather", 129.99, 55.0, 0.25,
            "11x9x2 cm", "Brown", "Bifold", 3, "holiday", "core"),
    Product("Bluetooth Speaker", "Electronics", "Audio", "SoundWave", 179.99, 95.0, 1.2,
            "20x8x8 cm", "Blue", "Portable", 3, "summer", "core"),
    Product("Ceramic Mug Set", "Home & Kitchen", "Drinkware", "HomeComfort", 39.99, 15.0, 1.5,
            "N/A", "Multi", "4-Piece", 5, "holiday", "core"),
    Product("Fitness Tracker", "Electronics", "Wearables", "FitLife", 179.99, 89.0, 0.08,
            "4x2x1 cm", "Black", "One Size", 4, "spring", "core"),
    Product("Desk Lamp LED", "Home & Office", "Lighting", "BrightWork", 149.99, 75.0, 2.2,
            "50x20x15 cm", "Silver", "Adjustable", 2, "", "core"),
    Product("Protein Powder", "Health & Nutrition", "Supplements", "MuscleFuel", 89.99, 45.0,
            2.3, "25x15x15 cm", "N/A", "2lb", 5, "spring", "core"),
    Product("Board Game Classic", "Toys & Games", "Board Games", "FunTime", 159.99, 80.0, 1.8,
            "30x30x8 cm", "Multi", "Family", 2, "holiday", "core"),
    Product("Silk Scarf", "Accessories", "Scarves", "LuxStyle", 249.99, 125.0, 0.1,
            "150x50 cm", "Red", "One Size", 1, "winter", "core"),
    Product("Kitchen Knife Set", "Home & Kitchen", "Cutlery", "ChefPro", 299.99, 150.0, 2.8,
            "35x20x15 cm", "Steel", "5-Piece", 2, "holiday", "core"),
    Product("Sunglasses Designer", "Accessories", "Eyewear", "StyleVision", 189.99, 95.0, 0.15,
            "15x5x15 cm", "Black", "One Size", 3, "summer", "core"),
    Product("Garden Planter", "Home & Garden", "Gardening", "GreenThumb", 95.0, 48.0, 3.2,
            "40x25x25 cm", "Terracotta", "Large", 2, "spring", "core"),
    Product("Laptop Stand", "Electronics", "Computer", "TechDesk", 279.99, 140.0, 1.5,
            "30x25x5 cm", "Aluminum", "Adjustable", 2, "", "core"),
    Product("Essential Oil Set", "Beauty", "Aromatherapy", "ZenScents", 199.99, 100.0, 0.8,
            "25x20x10 cm", "N/A", "10-Pack", 2, "holiday", "core"),
    Product("Travel Backpack", "Bags & Luggage", "Backpacks", "Adventure", 199.99, 100.0, 1.8,
            "50x35x20 cm", "Gray", "40L", 3, "summer", "core"),
    Product("Hiking Socks 3-Pack", "Apparel", "Socks", "TrailMate", 19.99, 7.5, 0.15, "N/A",
            "Gray", "L", 7, "winter", "core"),
    Product("Denim Jeans Slim", "Apparel", "Pants", "BasicWear", 59.99, 24.0, 0.7, "N/A",
            "Indigo", "32", 6, "", "core"),
    Product("Wool Beanie", "Apparel", "Hats", "WarmCoat", 24.99, 9.0, 0.1, "N/A", "Charcoal",
            "One Size", 5, "winter", "core"),
    Product("Trail Running Shoes", "Footwear", "Athletic", "RunFast", 129.99, 62.0, 0.75,
            "N/A", "Green", "9", 3, "spring", "core"),
    Product("Leather Boots", "Footwear", "Boots", "CraftLeather", 179.99, 85.0, 1.4, "N/A",
            "Brown", "10", 2, "winter", "core"),
    Product("USB-C Charger 65W", "Electronics", "Accessories", "TechGuard", 39.99, 16.0, 0.2,
            "8x6x3 cm", "White", "One Size", 7, "", "core"),
    Product("Noise Cancelling Earbuds", "Electronics", "Audio", "SoundTech", 199.99, 110.0,
            0.06, "6x5x3 cm", "White", "One Size", 3, "holiday", "core"),
    Product("Resistance Bands Set", "Sports & Fitness", "Equipment", "ZenFlow", 29.99, 11.0, 0.5,
            "20x15x5 cm", "Multi", "5-Piece", 4, "spring", "core"),
    Product("Adjustable Dumbbells", "Sports & Fitness", "Weights", "IronCore", 249.99, 140.0,
            12.0, "40x20x20 cm", "Black", "25lb", 1, "", "core"),
    Product("Scented Candle", "Home & Garden", "Decor", "HomeComfort", 24.99, 8.0, 0.4,
            "10x10x10 cm", "Ivory", "Large", 6, "holiday", "core"),
    Product("Throw Blanket", "Home & Garden", "Decor", "HomeComfort", 49.99, 20.0, 1.0, "N/A",
            "Beige", "Standard", 4, "winter", "core"),
    Product("Vitamin D3 Supplement", "Health & Nutrition", "Supplements", "MuscleFuel", 14.99,
            5.0, 0.1, "10x5x5 cm", "N/A", "90ct", 6, "winter", "core"),
    Product("Sunscreen SPF 50", "Beauty", "Skincare", "PureGlow", 17.99, 6.0, 0.15, "15x5x4 cm",
            "N/A", "200ml", 4, "summer", "core"),
    Product("Puzzle 1000 Pieces", "Toys & Games", "Puzzles", "FunTime", 24.99, 9.5, 0.6,
            "27x20x5 cm", "Multi", "1000pc", 3, "holiday", "core"),
    Product("Notebook Set", "Home & Office", "Stationery", "BrightWork", 19.99, 6.5, 0.5,
            "22x15x3 cm", "Black", "3-Pack", 5, "", "core"),
    # The "Smart Home" line: launched mid-period (created_date = launch day).
    Product("Smart Plug 2-Pack", "Smart Home", "Power", "Homely", 29.99, 12.0, 0.3,
            "10x8x6 cm", "White", "2-Pack", 6, "", "launch"),
    Product("Smart Thermostat", "Smart Home", "Climate", "Homely", 199.99, 105.0, 0.5,
            "12x12x4 cm", "Silver", "One Size", 2, "", "launch"),
    Product("Video Doorbell", "Smart Home", "Security", "Homely", 149.99, 70.0, 0.6,
            "15x8x6 cm", "Black", "One Size", 3, "", "launch"),
    Product("Smart Bulb 4-Pack", "Smart Home", "Lighting", "Homely", 49.99, 19.0, 0.4,
            "16x12x8 cm", "White", "4-Pack", 5, "", "launch"),
    Product("Robot Vacuum", "Smart Home", "Cleaning", "Homely", 349.99, 190.0, 3.8,
            "40x40x12 cm", "Black", "One Size", 2, "", "launch"),
    Product("Smart Speaker Mini", "Smart Home", "Audio", "Homely", 59.99, 27.0, 0.35,
            "10x10x5 cm", "Charcoal", "One Size", 4, "", "launch"),
)

# supplier_id, name, contact, email, phone, address, country, terms, rating
SUPPLIERS: tuple[tuple[str, str, str, str, str, str, str, str, str], ...] = (
    ("SUP001", "TechComponents Inc", "John Smith", "j.smith@techcomponents.com", "+1-206-555-2001",
     "1234 Industrial Blvd Seattle WA", "USA", "Net 30", "4.5"),
    ("SUP002", "Global Textiles Ltd", "Maria Rodriguez", "m.rodriguez@globaltextiles.com",
     "+1-503-555-2002", "5678 Fabric Ave Portland OR", "USA", "Net 45", "4.2"),
    ("SUP003", "Pacific Manufacturing", "David Chen", "d.chen@pacificmfg.com", "+1-415-555-2003",
     "9012 Production St San Francisco CA", "USA", "Net 30", "4.7"),
    ("SUP004", "EuroSupply Group", "Emma Johnson", "e.johnson@eurosupply.eu", "+44-20-5555-2004",
     "456 Commerce Rd London", "UK", "Net 60", "4.3"),
    ("SUP005", "AsiaLink Trading", "Li Wei", "l.wei@asialink.com", "+86-21-5555-2005",
     "789 Trade Center Shanghai", "China", "Letter of Credit", "4.1"),
    ("SUP006", "American Leather Co", "Robert Brown", "r.brown@amerleather.com", "+1-214-555-2006",
     "2345 Tannery Ln Dallas TX", "USA", "Net 30", "4.6"),
    ("SUP007", "Nordic Electronics", "Astrid Hansen", "a.hansen@nordicelek.no", "+47-22-555-2007",
     "123 Innovation Way Oslo", "Norway", "Net 45", "4.8"),
    ("SUP008", "Wellness Products Inc", "Sarah Wilson", "s.wilson@wellnessprod.com",
     "+1-303-555-2008", "6789 Health Dr Denver CO", "USA", "Net 30", "4.4"),
    ("SUP009", "Creative Games Studio", "Michael Taylor", "m.taylor@creativegames.com",
     "+1-512-555-2009", "3456 Fun Ave Austin TX", "USA", "Net 30", "4.3"),
    ("SUP010", "Kitchen Solutions Ltd", "Jennifer Davis", "j.davis@kitchensol.com",
     "+1-312-555-2010", "7890 Culinary St Chicago IL", "USA", "Net 45", "4.5"),
    ("SUP011", "Shenzhen Smart Devices", "Zhang Min", "z.min@szsmartdev.cn", "+86-755-5555-2011",
     "88 Keji Rd Shenzhen", "China", "Net 60", "4.2"),
)
# category -> (primary supplier index, alternate supplier index or -1)
CATEGORY_SUPPLIERS: dict[str, tuple[int, int]] = {
    "Electronics": (0, 6), "Footwear": (1, 2), "Apparel": (1, 4), "Home & Garden": (7, 2),
    "Sports & Fitness": (7, -1), "Home & Kitchen": (9, 3), "Beauty": (7, 4),
    "Personal Care": (0, 6), "Accessories": (5, 3), "Home & Office": (8, 2),
    "Health & Nutrition": (7, -1), "Toys & Games": (8, 4), "Bags & Luggage": (1, 3),
    "Smart Home": (10, 0),
}


class Station(NamedTuple):
    station_id: str
    name: str
    latitude: float
    longitude: float
    city: str
    country: str
    time_zone: str
    pollution: float  # baseline pollution level (1 = typical)
    hemisphere: int  # +1 north, -1 south (flips the seasonal shape)


_STATION_CITIES: tuple[tuple[str, str, float, float, str, float, int, int], ...] = (
    # city, country, lat, lon, tz, pollution, hemisphere, stations
    ("Seattle", "USA", 47.61, -122.33, "America/Los_Angeles", 0.7, 1, 2),
    ("Portland", "USA", 45.52, -122.68, "America/Los_Angeles", 0.7, 1, 1),
    ("San Francisco", "USA", 37.77, -122.42, "America/Los_Angeles", 0.8, 1, 2),
    ("Los Angeles", "USA", 34.05, -118.24, "America/Los_Angeles", 1.4, 1, 3),
    ("Denver", "USA", 39.74, -104.99, "America/Denver", 1.0, 1, 2),
    ("Phoenix", "USA", 33.45, -112.07, "America/Phoenix", 1.2, 1, 2),
    ("Dallas", "USA", 32.78, -96.80, "America/Chicago", 1.1, 1, 2),
    ("Houston", "USA", 29.76, -95.37, "America/Chicago", 1.3, 1, 2),
    ("Chicago", "USA", 41.88, -87.63, "America/Chicago", 1.1, 1, 3),
    ("New York", "USA", 40.71, -74.01, "America/New_York", 1.2, 1, 3),
    ("Boston", "USA", 42.36, -71.06, "America/New_York", 0.9, 1, 2),
    ("Atlanta", "USA", 33.75, -84.39, "America/New_York", 1.0, 1, 2),
    ("Miami", "USA", 25.76, -80.19, "America/New_York", 0.8, 1, 2),
    ("Toronto", "Canada", 43.65, -79.38, "America/Toronto", 0.9, 1, 2),
    ("Mexico City", "Mexico", 19.43, -99.13, "America/Mexico_City", 1.8, 1, 2),
    ("London", "UK", 51.51, -0.13, "Europe/London", 1.0, 1, 2),
    ("Paris", "France", 48.86, 2.35, "Europe/Paris", 1.0, 1, 2),
    ("Berlin", "Germany", 52.52, 13.40, "Europe/Berlin", 0.9, 1, 2),
    ("Madrid", "Spain", 40.42, -3.70, "Europe/Madrid", 1.0, 1, 1),
    ("Delhi", "India", 28.61, 77.21, "Asia/Kolkata", 3.0, 1, 3),
    ("Beijing", "China", 39.90, 116.41, "Asia/Shanghai", 2.2, 1, 2),
    ("Tokyo", "Japan", 35.68, 139.69, "Asia/Tokyo", 0.8, 1, 2),
    ("Sydney", "Australia", -33.87, 151.21, "Australia/Sydney", 0.6, -1, 2),
    ("Sao Paulo", "Brazil", -23.55, -46.63, "America/Sao_Paulo", 1.3, -1, 2),
)
_STATION_SUFFIXES: tuple[str, ...] = ("Downtown", "Airport", "North", "Harbor")


def _stations() -> tuple[Station, ...]:
    out: list[Station] = []
    for city, country, lat, lon, tz, pollution, hemi, count in _STATION_CITIES:
        for k in range(count):
            # deterministic offsets: stations of one city sit a few km apart
            dlat = round(0.031 * ((k * 7) % 5 - 2), 4)
            dlon = round(0.027 * ((k * 3) % 5 - 2), 4)
            out.append(
                Station(
                    station_id=f"AQ{len(out) + 1:03d}",
                    name=f"{city} {_STATION_SUFFIXES[k]}",
                    latitude=round(lat + dlat, 4),
                    longitude=round(lon + dlon, 4),
                    city=city,
                    country=country,
                    time_zone=tz,
                    pollution=pollution * (1.0 + 0.15 * (k % 3 - 1)),
                    hemisphere=hemi,
                )
            )
    return tuple(out)


STATIONS: tuple[Station, ...] = _stations()
