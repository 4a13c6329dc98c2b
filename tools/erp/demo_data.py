"""The demo company's accounts-payable data: twelve suppliers, their POs and invoices.

Most invoices are clean and already paid or posted. The ones still "received" include
one of each exception an accounts-payable review must catch (marked ``# EXCEPTION``),
next to clean ones that can simply be posted. ``tools.erp.demo_seed`` turns these
tables into rows, with dates relative to the seeding day.
"""

from __future__ import annotations

from decimal import Decimal

D = Decimal
# id: (name, country, currency, tax rate, IBAN bank code, status)
SUPPLIERS = {
    1: ("Acme Industrial Supply GmbH", "DE", "EUR", "0.19", "", "active"),
    2: ("Baltic Timber UAB", "LT", "EUR", "0.21", "", "active"),
    3: ("Cascade Packaging Ltd", "GB", "GBP", "0.20", "NWBK", "active"),
    4: ("Delmar Foods BV", "NL", "EUR", "0.09", "ABNA", "active"),
    5: ("Evergreen Office Supplies Ltd", "GB", "GBP", "0.20", "BARC", "active"),
    6: ("Fjord Logistics AS", "NO", "NOK", "0.25", "", "active"),
    7: ("Granite Electrical GmbH", "DE", "EUR", "0.19", "", "active"),
    8: ("Harbor Coffee Roasters SARL", "FR", "EUR", "0.055", "", "active"),
    9: ("Ironbridge Metals plc", "GB", "GBP", "0.20", "LOYD", "active"),
    10: ("Juniper Cleaning Services BV", "NL", "EUR", "0.21", "INGB", "blocked"),
    11: ("Kestrel Print & Design Ltd", "IE", "EUR", "0.23", "AIBK", "active"),
    12: ("Lumen Lighting Srl", "IT", "EUR", "0.22", "X", "new"),
}
BBAN_DIGITS = {"DE": 18, "LT": 16, "GB": 14, "NL": 10, "NO": 11, "FR": 23, "IE": 14, "IT": 22}
# sku: (description, unit price in the supplier's currency)
ITEMS = {
    "AIS-BRG-6204": ("Deep groove ball bearing 6204-2RS", "4.80"),
    "AIS-GLV-NIT-L": ("Nitrile gloves, box of 100, size L", "9.90"),
    "AIS-SAFE-GOG": ("Safety goggles, anti-fog", "6.25"),
    "AIS-CBL-TIE": ("Cable ties 300mm, pack of 500", "14.40"),
    "BT-PAL-EUR": ("EUR pallet 1200x800, heat treated", "11.50"),
    "BT-PLY-18": ("Birch plywood 18mm 2500x1250", "58.00"),
    "CP-BOX-S": ("Shipping box 305x215x150, single wall", "0.62"),
    "CP-BOX-M": ("Shipping box 457x305x305, double wall", "1.48"),
    "CP-TAPE-48": ("Packing tape 48mm x 66m", "1.95"),
    "CP-VOID-FILL": ("Paper void fill, 450m roll", "18.50"),
    "DF-OLV-5L": ("Extra virgin olive oil 5L", "34.90"),
    "DF-TOM-2500": ("Peeled tomatoes 2.5kg tin", "4.15"),
    "DF-FLR-25": ("Tipo 00 flour 25kg", "21.60"),
    "EOS-PAP-A4": ("A4 copier paper 80gsm, box of 5 reams", "21.99"),
    "EOS-TON-58A": ("Toner cartridge 58A compatible", "64.00"),
    "EOS-CHR-ERG": ("Ergonomic office chair", "189.00"),
    "FL-FRT-FTL": ("Freight Oslo-Hamburg, full truckload", "18500.00"),
    "FL-WH-PLT": ("Warehouse storage, pallet-month", "145.00"),
    "GE-CB-16A": ("Circuit breaker 16A type B", "7.85"),
    "GE-CAB-3G25": ("Cable NYM-J 3x2.5mm2, 100m", "96.00"),
    "GE-LED-T8": ("LED tube T8 150cm 24W", "8.40"),
    "HCR-ESP-1KG": ("Espresso blend beans 1kg", "18.90"),
    "HCR-DEC-1KG": ("Decaf beans 1kg", "21.40"),
    "IM-STL-SHT2": ("Steel sheet 2mm 2500x1250", "82.00"),
    "IM-ALU-BAR20": ("Aluminium round bar 20mm x 3m", "27.50"),
    "JCS-OFFICE": ("Office cleaning, monthly", "1450.00"),
    "KPD-BROCH-A5": ("A5 brochure, 8pp, 1000 copies", "395.00"),
    "KPD-BCARD": ("Business cards, 500", "45.00"),
    "KPD-ROLLUP": ("Roll-up banner 85x200cm", "120.00"),
    "LL-PANEL-60": ("LED panel 600x600 40W", "38.00"),
}
# PO suffix: (supplier, created days ago, status, ((sku, qty ordered, qty received), ...))
POS = {
    "0301": (1, 120, "closed", (("AIS-BRG-6204", 200, 200), ("AIS-GLV-NIT-L", 50, 50))),
    "0302": (2, 110, "open", (("BT-PAL-EUR", 300, 300),)),
    "0303": (3, 100, "open", (("CP-BOX-S", 2000, 2000), ("CP-TAPE-48", 200, 200))),
    "0304": (4, 95, "open", (("DF-OLV-5L", 40, 40), ("DF-TOM-2500", 120, 120))),
    "0305": (9, 90, "closed", (("IM-STL-SHT2", 30, 30), ("IM-ALU-BAR20", 40, 40))),
    "0306": (5, 85, "open", (("EOS-PAP-A4", 60, 60), ("EOS-TON-58A", 12, 12))),
    "0307": (7, 80, "open", (("GE-CB-16A", 100, 100), ("GE-CAB-3G25", 10, 10))),
    "0308": (8, 75, "open", (("HCR-ESP-1KG", 80, 80), ("HCR-DEC-1KG", 20, 20))),
    "0309": (11, 70, "open", (("KPD-BROCH-A5", 2, 2),)),
    "0310": (1, 65, "open", (("AIS-SAFE-GOG", 100, 100), ("AIS-CBL-TIE", 20, 20))),
    "0311": (3, 60, "open", (("CP-BOX-M", 1500, 1500), ("CP-VOID-FILL", 40, 40))),
    "0312": (2, 55, "open", (("BT-PLY-18", 80, 80),)),
    "0313": (4, 50, "open", (("DF-FLR-25", 60, 60), ("DF-OLV-5L", 30, 30))),
    "0314": (9, 45, "open", (("IM-STL-SHT2", 50, 50), ("IM-ALU-BAR20", 100, 100))),
    "0315": (7, 40, "open", (("GE-LED-T8", 400, 400), ("GE-CB-16A", 50, 50))),
    "0316": (5, 38, "open", (("EOS-CHR-ERG", 10, 10),)),
    "0317": (1, 35, "open", (("AIS-BRG-6204", 500, 300), ("AIS-GLV-NIT-L", 80, 80))),
    "0318": (8, 30, "open", (("HCR-ESP-1KG", 100, 100),)),
    "0319": (11, 28, "open", (("KPD-BCARD", 12, 12), ("KPD-ROLLUP", 4, 4))),
    "0320": (3, 25, "open", (("CP-BOX-S", 3000, 3000), ("CP-TAPE-48", 300, 300))),
    "0321": (6, 22, "open", (("FL-WH-PLT", 120, 120),)),
    "0322": (4, 18, "open", (("DF-TOM-2500", 200, 200), ("DF-FLR-25", 40, 40))),
    "0323": (2, 12, "open", (("BT-PAL-EUR", 400, 0),)),
    "0324": (7, 8, "open", (("GE-CAB-3G25", 20, 0),)),
    "0325": (12, 2, "open", (("LL-PANEL-60", 120, 120),)),
}
Lines = tuple[tuple[str, int, str], ...]  # (sku, qty, unit price) when not billed as received
InvoiceSpec = tuple[str, int, str, int, str, Lines]
# (number, supplier, PO suffix or "", invoice days ago, status, explicit lines)
INVOICES: tuple[InvoiceSpec, ...] = (
    ("BT/2024/089", 2, "", 118, "rejected", (("BT-PAL-EUR", 50, "11.50"),)),
    ("AIS-24-0398", 1, "0301", 115, "paid", ()),
    ("BT/2024/101", 2, "0302", 105, "paid", ()),
    ("AIS-24-0402", 1, "", 100, "paid", (("AIS-SAFE-GOG", 40, "6.25"),)),
    ("CP-10211", 3, "0303", 96, "paid", ()),
    ("KPD-2218", 11, "", 95, "paid", (("KPD-BCARD", 6, "45.00"),)),
    ("HCR-3260", 8, "", 92, "paid", (("HCR-ESP-1KG", 40, "18.90"),)),
    ("DF-88102", 4, "0304", 90, "paid", ()),
    ("GE-24-1075", 7, "", 88, "paid", (("GE-LED-T8", 100, "8.40"),)),
    ("IM-77120", 9, "0305", 86, "paid", ()),
    ("EOS-5488", 5, "0306", 80, "paid", ()),
    ("GE-24-1102", 7, "0307", 76, "paid", ()),
    ("HCR-3281", 8, "0308", 70, "paid", ()),
    ("KPD-2240", 11, "0309", 66, "paid", ()),
    ("CP-10240", 3, "", 62, "paid", (("CP-TAPE-48", 150, "1.95"),)),
    ("AIS-24-0456", 1, "0310", 60, "paid", ()),
    ("FL-2024-0071", 6, "", 58, "paid", (("FL-FRT-FTL", 1, "18500.00"),)),
    ("JCS-0398", 10, "", 57, "paid", (("JCS-OFFICE", 1, "1450.00"),)),
    ("EOS-5502", 5, "", 52, "paid", (("EOS-TON-58A", 6, "64.00"),)),
    ("BT/2024/117", 2, "0312", 50, "paid", ()),
    ("DF-88213", 4, "0313", 45, "paid", ()),
    ("IM-77158", 9, "0314", 40, "posted", ()),
    ("DF-88190", 4, "", 35, "posted", (("DF-OLV-5L", 10, "34.90"),)),
    ("EOS-5521", 5, "0316", 33, "posted", ()),
    ("FL-2024-0080", 6, "", 28, "posted", (("FL-FRT-FTL", 1, "18500.00"),)),
    ("JCS-0419", 10, "", 27, "held", (("JCS-OFFICE", 1, "1450.00"),)),
    ("GE-24-1150", 7, "", 24, "paid", (("GE-CB-16A", 40, "7.85"),)),
    ("CP-10293", 3, "0320", 20, "posted", ()),
    ("FL-2024-0087", 6, "0321", 18, "posted", ()),
    ("DF-88240", 4, "0322", 14, "posted", ()),
    ("KPD-2270", 11, "", 12, "received", (("KPD-ROLLUP", 2, "120.00"),)),
    ("IM-77175", 9, "", 10, "received", (("IM-ALU-BAR20", 20, "27.50"),)),
    # EXCEPTION price variance: box billed at 1.62, PO says 1.48
    (
        "CP-10288",
        3,
        "0311",
        9,
        "received",
        (("CP-BOX-M", 1500, "1.62"), ("CP-VOID-FILL", 40, "18.50")),
    ),
    # EXCEPTION quantity: 500 bearings billed, 300 received
    (
        "AIS-24-0511",
        1,
        "0317",
        7,
        "received",
        (("AIS-BRG-6204", 500, "4.80"), ("AIS-GLV-NIT-L", 80, "9.90")),
    ),
    ("EOS-5540", 5, "", 6, "received", (("EOS-PAP-A4", 20, "21.99"),)),
    # EXCEPTION invoice against a closed PO
    ("IM-77190", 9, "0305", 6, "received", (("IM-STL-SHT2", 10, "82.00"),)),
    # EXCEPTION supplier's bank details changed six days ago (otherwise a clean match)
    ("GE-24-1187", 7, "0315", 5, "received", ()),
    # EXCEPTION billed in USD against a EUR purchase order
    ("HCR-3342", 8, "0318", 4, "received", (("HCR-ESP-1KG", 100, "20.60"),)),
    ("FL-2024-0093", 6, "", 4, "received", (("FL-FRT-FTL", 1, "18500.00"),)),
    # EXCEPTION duplicate: same number as the paid DF-88213 above
    ("DF-88213", 4, "0313", 3, "received", ()),
    # EXCEPTION arithmetic: lines sum to 1020.00, subtotal says 1120.00
    ("KPD-2291", 11, "0319", 3, "received", ()),
    # EXCEPTION supplier onboarded three days ago, not yet vetted
    ("LL-0001", 12, "0325", 1, "received", ()),
)
CURRENCY_OVERRIDE = {"HCR-3342": "USD"}
SUBTOTAL_OVERRIDE = {"KPD-2291": D("1120.00")}
